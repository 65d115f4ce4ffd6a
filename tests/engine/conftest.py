"""The whole engine on real parts: Temporal dev server, worker, gateway, Akku and Slack simulators.

`stack` runs `cli.stack.embedded_stack` (the very code behind `riposte dev`) against the
session's Temporal server, on free loopback ports and a fresh task queue, so each test
gets its own worker, governor and simulators. Workflows left open by a test (investigations
wait out their quiet period) are terminated afterwards, so the next test's investigation of
the same simulated person starts afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cli.stack import Stack, StackOptions, embedded_stack
from riposte.models.governor import governor_task_queue
from riposte.settings import Settings, load_settings
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_TOKEN = "engine-test-webhook-token"
WEBHOOK_SECRET = "whsec_ZW5naW5lLXRlc3Qtd2ViaG9vay1zZWNyZXQ="


def stack_settings(client: Client, task_queue: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "temporal_address": client.service_client.config.target_host,
        "temporal_task_queue": task_queue,
        "temporal_ui_url": "http://127.0.0.1:8233",
        "akku_base_url": f"http://127.0.0.1:{free_port()}/api",
        "slack_api_url": f"http://127.0.0.1:{free_port()}/api/",
        "riposte_http_port": free_port(),
        "riposte_webhook_token": WEBHOOK_TOKEN,
        "riposte_webhook_secret": WEBHOOK_SECRET,
        "riposte_playbooks_dir": REPO / "playbooks",
        "riposte_state_dir": REPO / ".state" / "tests",
    }
    values.update(overrides)
    return load_settings(**values)


@contextlib.asynccontextmanager
async def running_stack(
    client: Client, task_queue: str, *, worker: bool = True, akku_staff: int = 200, **overrides: object
) -> AsyncIterator[Stack]:
    settings = stack_settings(client, task_queue, **overrides)
    try:
        options = StackOptions(quiet=True, worker=worker, akku_staff=akku_staff)
        async with embedded_stack(settings, options) as stack:
            yield stack
    finally:
        await terminate_open_workflows(client, task_queue)


async def terminate_open_workflows(client: Client, task_queue: str) -> None:
    """Visibility lags a little behind starts: sweep until a listing comes back empty twice."""
    query = f"(TaskQueue = '{task_queue}' OR TaskQueue = '{governor_task_queue(task_queue)}') AND ExecutionStatus = 'Running'"
    empty = 0
    for _ in range(50):
        found = 0
        try:
            executions = [e async for e in client.list_workflows(query)]
        except RPCError as exc:
            if exc.status is RPCStatusCode.UNIMPLEMENTED:  # the time-skipping server has no visibility
                return
            raise
        for execution in executions:
            found += 1
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test finished")
        empty = empty + 1 if found == 0 else 0
        if empty >= 2:
            return
        await asyncio.sleep(0.1)


@pytest.fixture
async def stack(client: Client, task_queue: str) -> AsyncIterator[Stack]:
    async with running_stack(client, task_queue) as running:
        yield running


def playbooks_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    folder = tmp_path / "playbooks"
    shutil.copytree(REPO / "playbooks", folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = folder / f"{name}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return folder
