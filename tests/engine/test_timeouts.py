"""Approval deadlines on Temporal's time-skipping server: remind, escalate, fall back; Slack down.

Time is skipped, not waited for: `env.sleep()` moves the server's clock while the whole
stack (worker, gateway, simulators) runs for real.
"""

from __future__ import annotations

import asyncio
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
from tests.support.offers import click, has_buttons, notify_playbooks, reply_saying

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
        # the reminder is a reply in the request's thread that pings who may decide (an edit pings nobody)
        message, reminder = await messages(stack)
        assert reminder["thread_ts"] == message["ts"] and reminder["channel"] == message["channel"]
        assert reminder["text"].startswith(":bell: <@U0ANALYST>: still waiting 10 min for a decision: ")
        assert "Run in Temporal" in str(reminder["blocks"])
        assert message["updates"] == [] and "riposte_decide" in str(message["blocks"])  # the request, untouched
        await env.sleep(timedelta(minutes=20))  # past the 30-minute timeout
        await until_stage(stack, workflow_id, "timed_out", env)
        assert [(w["action"], w["status"]) for w in await akku_writes(stack)] == [("sessions_revoke", "applied")]
        message, _ = await messages(stack)
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
    async with running_stack(env.client, task_queue, slack_approver_group="S0SECOPS") as stack:
        fired = await driver.fire_scenario(stack, "admin_elevation")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "waiting_for_approval"
        await env.sleep(timedelta(minutes=16))  # past remind_after (5 min) and escalate_after (15 min)
        found = await messages(stack)
        requests = [m for m in found if not m["thread_ts"]]
        assert [m["channel"] for m in requests] == ["C0SECOPS", "C0SECLEADS"]  # on call, then the security leads
        (reminder,) = [m for m in found if m["thread_ts"]]
        assert reminder["thread_ts"] == requests[0]["ts"]
        assert reminder["text"].startswith(":bell: <!subteam^S0SECOPS>: still waiting 5 min")  # the approver group
        assert "Waiting 15 min for a decision in <#C0SECOPS>" in str(requests[1]["blocks"])
        await env.sleep(timedelta(hours=2))  # admin elevation never falls back: it keeps waiting
        now = await driver.investigation_status(stack.client, workflow_id)
        assert now is not None and now.pending is not None and await akku_writes(stack) == []
        await end(env, stack, workflow_id)


async def test_an_fyi_nobody_acts_on_changes_nothing_and_its_run_closes(
    env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with running_stack(env.client, task_queue, riposte_playbooks_dir=notify_playbooks(tmp_path)) as stack:
        fired = await driver.fire_scenario(stack, "dormant_account")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "notified"
        await env.sleep(timedelta(hours=4, minutes=1))  # past the quiet period (dormant-account: 4 h)
        handle = stack.client.get_workflow_handle(workflow_id)
        outcome = await handle.result()
        assert outcome["decision"] == "notified" and await akku_writes(stack) == []
        (message,) = await messages(stack)
        assert not has_buttons(message) and "Closed: nobody chose in time; nothing was changed" in message["text"]
        await end(env, stack, workflow_id)


async def test_a_click_on_an_fyi_after_its_run_closed_is_answered_closed(
    env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Slack was down when the run closed, so the buttons stayed: a click then changes nothing."""
    async with running_stack(env.client, task_queue, riposte_playbooks_dir=notify_playbooks(tmp_path)) as stack:
        fired = await driver.fire_scenario(stack, "dormant_account")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "notified"
        for _ in range(100):  # the FYI is posted just after the decision is recorded
            if await messages(stack):
                break
            await asyncio.sleep(0.05)
        assert len(await messages(stack)) == 1
        await env.sleep(timedelta(hours=3))
        await slack(stack, "POST", "/_sim/down")
        await env.sleep(timedelta(hours=1, minutes=1))  # the run closes; withdrawing its buttons fails
        await stack.client.get_workflow_handle(workflow_id).result()
        await slack(stack, "DELETE", "/_sim/down")
        (message,) = await messages(stack)
        assert has_buttons(message)
        assert (await click(stack, workflow_id, "approve", "U0ANALYST")).status_code == 200
        await reply_saying(stack, "this investigation has closed")
        assert await akku_writes(stack) == []
        await end(env, stack, workflow_id)
