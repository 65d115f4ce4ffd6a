"""Approval deadlines on Temporal's time-skipping server: remind, escalate, fall back; Slack down.

Time is skipped, not waited for: `env.sleep()` moves the server's clock while the whole
stack (worker, gateway, simulators) runs for real.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cli import driver
from cli.operators import decide
from cli.rig import playbooks_with, running_stack, start_time_skipping_server
from cli.stack import Stack

pytestmark = pytest.mark.time_skipping


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of each test's own: a digest that still checks on a waiting request
    every minute must not slow the clock of the tests after it."""
    environment = await start_time_skipping_server()
    try:
        yield environment
    finally:
        await environment.shutdown()


async def messages(stack: Stack) -> list[dict[str, Any]]:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        found: list[dict[str, Any]] = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")).json()[
            "messages"
        ]
    return found


async def slack(stack: Stack, method: str, path: str) -> None:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        await http.request(method, f"{stack.slack_url.rstrip('/')}{path}")


async def akku_writes(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        found: list[dict[str, Any]] = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()[
            "writes"
        ]
    return found


async def end(env: WorkflowEnvironment, stack: Stack, *workflow_ids: str) -> None:
    """The time-skipping server has no visibility to sweep: end what a test left running by id,
    or its pending timers and activities would hold the shared server's clock for later tests."""
    governor = f"riposte-action-governor/{stack.settings.temporal_task_queue}"
    for workflow_id in (*workflow_ids, governor):
        with contextlib.suppress(RPCError):
            await env.client.get_workflow_handle(workflow_id).terminate("test finished")


async def until_stage(stack: Stack, workflow_id: str, stage: str, env: WorkflowEnvironment) -> None:
    for _ in range(200):
        status = await driver.investigation_status(stack.client, workflow_id)
        if status is not None and status.stage == stage:
            return
        await env.sleep(timedelta(seconds=1))
    raise AssertionError(f"{workflow_id} never reached {stage}")


async def test_reminder_then_fallback_when_nobody_decides(
    env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    folder = playbooks_with(
        tmp_path,
        "impossible-travel",
        "  on_timeout: dismiss\n",
        "  on_timeout: act\n  fallback_actions: [revoke_sessions]\n",
    )
    async with running_stack(env.client, task_queue, riposte_playbooks_dir=folder) as stack:
        fired = await driver.fire_scenario(stack, "impossible_travel")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "waiting_for_approval"
        await env.sleep(timedelta(minutes=11))  # past remind_after (10 min)
        (message,) = await messages(stack)
        assert any("Reminder" in str(u) for u in [message["text"], *message["blocks"]])
        assert "riposte_decide" in str(message["blocks"])  # a reminder keeps the buttons
        await env.sleep(timedelta(minutes=20))  # past the 30-minute timeout
        await until_stage(stack, workflow_id, "timed_out", env)
        assert [(w["action"], w["status"]) for w in await akku_writes(stack)] == [("sessions_revoke", "applied")]
        (message,) = await messages(stack)
        assert "No decision in 0:30:00" in message["text"] and "riposte_decide" not in str(message["blocks"])
        await end(env, stack, workflow_id)


async def test_slack_down_the_run_waits_and_the_cli_still_decides(env: WorkflowEnvironment, task_queue: str) -> None:
    async with running_stack(env.client, task_queue) as stack:
        await slack(stack, "POST", "/_sim/down")
        fired = await driver.fire_scenario(stack, "dormant_account")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "waiting_for_approval"
        await env.sleep(timedelta(hours=1))  # an hour of Slack outage; dormant-account keeps waiting
        status_now = await driver.investigation_status(stack.client, workflow_id)
        assert status_now is not None and status_now.pending is not None
        assert await messages(stack) == []
        await slack(stack, "DELETE", "/_sim/down")
        await env.sleep(timedelta(minutes=16))  # the next retry re-posts the request that never arrived
        assert len(await messages(stack)) == 1
        code = await decide(stack.settings, workflow_id, approve=True, option=None, operator="maria")
        assert code == 0
        await until_stage(stack, workflow_id, "approved", env)
        assert {w["action"] for w in await akku_writes(stack)} == {"lock", "sessions_revoke"}
        await end(env, stack, workflow_id)


async def test_escalation_to_a_second_channel_then_keep_waiting(env: WorkflowEnvironment, task_queue: str) -> None:
    async with running_stack(env.client, task_queue) as stack:
        fired = await driver.fire_scenario(stack, "admin_elevation")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "waiting_for_approval"
        await env.sleep(timedelta(minutes=16))  # past escalate_after (15 min)
        channels = sorted(m["channel"] for m in await messages(stack))
        assert channels == ["C0SECLEADS", "C0SECOPS"]  # the on-call channel, then the security leads
        await env.sleep(timedelta(hours=2))  # admin elevation never falls back: it keeps waiting
        now = await driver.investigation_status(stack.client, workflow_id)
        assert now is not None and now.pending is not None and await akku_writes(stack) == []
        await end(env, stack, workflow_id)
