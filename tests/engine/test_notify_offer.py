"""An FYI a person may act on (actionable-notify-v1), on the whole stack: a notify-band alert, its
message in the Slack simulator with the band above it as buttons, clicks through the real gateway,
the lock in the Akku simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from temporalio.client import Client

from cli import driver
from cli.operators import decide, show_run
from cli.rig import running_stack
from cli.stack import Stack
from riposte.models.runs import InvestigationStatus
from tests.support.offers import (
    add_user,
    akku_writes,
    click,
    has_buttons,
    messages,
    notify_playbooks,
    reply_saying,
    text_of,
)


async def until(stack: Stack, workflow_id: str, stage: str) -> InvestigationStatus:
    for _ in range(200):
        status = await driver.investigation_status(stack.client, workflow_id)
        if status is not None and status.stage == stage:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never reached {stage}")


async def notified(stack: Stack) -> tuple[str, InvestigationStatus]:
    fired = await driver.fire_scenario(stack, "dormant_account")
    ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
    assert status.stage == "notified", status
    for _ in range(100):  # the FYI is posted just after the decision is recorded
        status = await driver.investigation_status(stack.client, workflow_id) or status
        if status.offer is not None and await messages(stack):
            return workflow_id, status
        await asyncio.sleep(0.05)
    raise AssertionError(f"no FYI offer posted: {status}")


async def test_acting_from_a_notify_message(client: Client, task_queue: str, tmp_path: Path) -> None:
    approvers = "U0ANALYST,U0SELF"
    async with running_stack(
        client, task_queue, riposte_playbooks_dir=notify_playbooks(tmp_path), slack_approver_ids=approvers
    ) as stack:
        workflow_id, status = await notified(stack)
        assert status.pending is None and status.offer is not None  # nothing waits for it
        (message,) = await messages(stack)
        text = text_of(message)
        assert message["text"].startswith("FYI: ") and has_buttons(message)
        assert "Lock and revoke sessions" in text and "Dismiss as benign" in text
        assert "Nothing changes unless someone chooses" in text and "<!date^" in text  # open until when
        assert "<@" not in text  # an FYI pings nobody

        # not an approver: refused, nothing changes
        assert (await click(stack, workflow_id, "approve", "U0INTRUDER")).status_code == 200
        await reply_saying(stack, "U0INTRUDER is not allowed to decide")
        # the person under investigation, an approver in Slack: refused too
        assert status.offer.user is not None and status.offer.user.email
        await add_user(stack, "U0SELF", status.offer.user.email)
        assert (await click(stack, workflow_id, "approve", "U0SELF")).status_code == 200
        await reply_saying(stack, "cannot decide on it")
        assert await akku_writes(stack) == []

        # an approver chooses: applied through the normal write path, the decider recorded
        assert (await click(stack, workflow_id, "approve", "U0ANALYST")).status_code == 200
        await reply_saying(stack, "Recorded")
        done = await until(stack, workflow_id, "approved")
        actor = done.actor_id
        applied = {(w["actor_id"], w["action"]) for w in await akku_writes(stack) if w["status"] == "applied"}
        assert applied == {(actor, "lock"), (actor, "sessions_revoke")}
        assert [d.label for d in done.decisions] == ["notified", "approved"]
        assert done.decisions[-1].decided_by == "analyst" and done.decisions[-1].option_id == "approve"
        assert done.offer is None and done.pending is None
        for _ in range(100):
            (message,) = await messages(stack)
            if not has_buttons(message):
                break
            await asyncio.sleep(0.05)
        assert not has_buttons(message) and "decided by analyst" in message["text"]
        assert "<@U0ANALYST>" in text_of(message)
        assert "riposte_undo_" in text_of(message)  # the lock it applied can be undone from the same message


async def test_the_cli_chooses_on_a_notify_message_too(client: Client, task_queue: str, tmp_path: Path) -> None:
    async with running_stack(client, task_queue, riposte_playbooks_dir=notify_playbooks(tmp_path)) as stack:
        workflow_id, _ = await notified(stack)
        shown = Console(record=True, width=200)
        assert await show_run(stack.settings, workflow_id, shown) == 0
        said = shown.export_text()
        assert "FYI open to a choice until" in said and "dismiss (Dismiss as benign)" in said
        assert await decide(stack.settings, workflow_id, approve=False, option=None, operator="maria") == 0
        done = await until(stack, workflow_id, "dismissed")
        assert done.decisions[-1].decided_by == "maria" and done.decisions[-1].option_id == "dismiss"
        assert await akku_writes(stack) == []
        # the message's buttons go
        for _ in range(100):
            (message,) = await messages(stack)
            if not has_buttons(message):
                break
            await asyncio.sleep(0.05)
        assert not has_buttons(message)
