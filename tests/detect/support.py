"""Shared by the detector's end-to-end tests: a stack with detection on, events written into Akku."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import Client

from cli.detect import DetectorStatus, read_status
from cli.driver import simulator_root
from cli.rig import stack_settings, terminate_open_workflows
from cli.stack import Stack, StackOptions, embedded_stack
from clients.akku.adapter import timestamp


@contextlib.asynccontextmanager
async def detecting_stack(
    client: Client, task_queue: str, *, mode: str = "stream", worker: bool = True, **overrides: Any
) -> AsyncIterator[Stack]:
    """The embedded stack with RIPOSTE_DETECT on, a fast-heartbeat Akku simulator and 1 s polling."""
    values: dict[str, Any] = {
        "riposte_detect": mode,
        "riposte_detect_poll_seconds": 1.0,
        "riposte_detect_lateness_seconds": 30.0,
    }
    values.update(overrides)
    settings = stack_settings(client, task_queue, **values)
    try:
        options = StackOptions(quiet=True, worker=worker, akku_heartbeat_seconds=0.3)
        async with embedded_stack(settings, options) as stack:
            yield stack
    finally:
        await terminate_open_workflows(client, task_queue)


def event(
    kind: str, actor: str, at: datetime, ip: str = "203.0.113.9", city: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"event_type": kind, "actor_id": actor, "timestamp": timestamp(at), "source_ip": ip}
    if city:
        body["city"] = city
    return {**body, **extra}


async def write(http: httpx.AsyncClient, stack: Stack, events: list[dict[str, Any]]) -> list[str]:
    answer = await http.post(f"{simulator_root(stack.akku_url)}/_sim/events", json={"events": events})
    assert answer.status_code == 200, answer.text
    ids: list[str] = answer.json()["event_ids"]
    return ids


def now() -> datetime:
    return datetime.now(UTC)


async def status(stack: Stack) -> DetectorStatus | None:
    return await read_status(stack.client, stack.settings.temporal_task_queue)


async def wait_for(stack: Stack, check: Any, *, timeout: float = 60, what: str = "the detector") -> DetectorStatus:
    """Poll the detector's checkpoint until `check(checkpoint)` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: DetectorStatus | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await status(stack)
        if last is not None and last.checkpoint is not None and check(last.checkpoint):
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not reached in {timeout:.0f} s; last status {last}")


def ago(seconds: float) -> datetime:
    return now() - timedelta(seconds=seconds)
