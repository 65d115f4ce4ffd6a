"""Undo end to end on the real stack: by the Slack button (signed clicks through the simulator) and
by `riposte undo` (the CLI, signed with an operator token); Akku's user is active again, the run
records who and why; a second undo writes nothing; forged, unauthorised and self-serving undos are
refused; what Akku cannot reverse is said plainly."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
from rich.console import Console
from temporalio.client import Client
from typer.testing import CliRunner

from cli import driver
from cli.main import app
from cli.operators import show_run
from cli.rig import running_stack
from cli.stack import Stack
from cli.undo import undo
from riposte.models.runs import DecisionLabel, InvestigationStatus
from tests.support.containment import (
    akku_user,
    akku_writes,
    click,
    has_button,
    locking_playbooks,
    message_about,
    reply_saying,
)

OPERATOR = "maria:rig-maria-operator-token"  # the rig's operator (cli/rig.py), not a real secret


async def acted(stack: Stack, scenario: str = "mfa_fatigue") -> tuple[str, str]:
    fired = await driver.fire_scenario(stack, scenario)
    ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
    assert status.stage == "acted", status.stage
    return workflow_id, workflow_id.removeprefix("investigation-")


async def status_of(stack: Stack, workflow_id: str) -> InvestigationStatus:
    status = await driver.investigation_status(stack.client, workflow_id)
    assert status is not None
    return status


async def cli(stack: Stack, *args: str, token: str = OPERATOR) -> tuple[int, str]:
    """`riposte ...` as an operator's shell runs it (in a thread: it runs its own event loop), its
    settings from the environment, signed with the operator's own token."""
    env = {
        "TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "TEMPORAL_TASK_QUEUE": stack.settings.temporal_task_queue,
        "RIPOSTE_OPERATOR_TOKEN": token,
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result.exit_code, result.output


async def test_undo_by_button_unlocks_in_akku_and_is_recorded(client: Client, task_queue: str, tmp_path: Path) -> None:
    async with running_stack(client, task_queue, riposte_playbooks_dir=locking_playbooks(tmp_path)) as stack:
        workflow_id, actor = await acted(stack)
        assert (await akku_user(stack, actor))["status"] == "locked"
        notice = await message_about(stack, actor, "Acted automatically")
        assert has_button(notice, "undo") and not has_button(notice, "keep")  # no contain_for: nothing lapses
        assert "ended sessions cannot be restored" in str(notice["blocks"])

        forged = await click(stack, workflow_id, "undo", "U0ANALYST", forge=True)
        assert forged.json()["status"] == 401
        intruder = await click(stack, workflow_id, "undo", "U0INTRUDER")
        assert intruder.status_code == 200
        said = await reply_saying(stack, "Not recorded")
        assert "U0INTRUDER" in said and "no longer allowed" in said
        assert (await akku_user(stack, actor))["status"] == "locked"

        assert (await click(stack, workflow_id, "undo", "U0ANALYST")).status_code == 200
        await reply_saying(stack, "Recorded: *undone*")
        assert (await akku_user(stack, actor))["status"] == "active"
        status = await driver.wait_for_stage(stack.client, workflow_id, "undone")
        last = status.decisions[-1]
        assert last.label is DecisionLabel.UNDONE and last.decided_by == "analyst"
        assert "Undo button" in last.note and [r.status for r in last.results] == ["applied"]
        (hold,) = status.holds
        assert hold.outcome == "undone" and hold.by == "analyst"

        updated = await message_about(stack, actor, "Undone")
        assert not has_button(updated, "undo") and "analyst" in str(updated["blocks"])
        # a second undo (the CLI this time) is reported, not written again
        assert await undo(stack.settings, workflow_id, action=None, reason="again", operator="maria") == 0
        writes = await akku_writes(stack, actor)  # lock and revoke sessions go out together: any order
        assert sorted(writes) == [("lock", "applied"), ("sessions_revoke", "applied"), ("unlock", "applied")]
        assert writes[-1] == ("unlock", "applied")
        assert len((await status_of(stack, workflow_id)).decisions) == len(status.decisions)


async def test_undo_by_cli_after_an_approval(client: Client, task_queue: str) -> None:
    async with running_stack(client, task_queue) as stack:
        fired = await driver.fire_scenario(stack, "dormant_account")
        ((workflow_id, _),) = (await driver.settle(stack, fired)).items()
        actor = workflow_id.removeprefix("investigation-")
        code, said = await cli(stack, "undo", workflow_id)
        assert code == 1 and "nothing to undo" in said  # nothing applied yet
        assert await driver.decide_via_cli(stack, workflow_id, operator="maria") == 0
        await driver.wait_for_stage(stack.client, workflow_id, "approved")
        assert (await akku_user(stack, actor))["status"] == "locked"
        decided = await message_about(stack, actor, "Can be undone")
        assert has_button(decided, "undo")
        shown = io.StringIO()
        assert await show_run(stack.settings, workflow_id, Console(file=shown, width=200)) == 0
        assert f"can be undone: lock (riposte undo {workflow_id})" in shown.getvalue()

        code, said = await cli(stack, "undo", workflow_id, "--action", "revoke_sessions")
        assert code == 1 and "ended sessions cannot be restored" in said
        code, said = await cli(stack, "undo", workflow_id, "--action", "teleport")
        assert code == 2 and "unknown action" in said
        code, said = await cli(stack, "undo", workflow_id, "--reason", "x" * 501)
        assert code == 2 and "--reason" in said
        code, said = await cli(stack, "undo", workflow_id, "--reason", "owner verified by phone")
        assert code == 0, said
        assert "lock undone by maria" in said and "not undone: revoke sessions" in said
        assert (await akku_user(stack, actor))["status"] == "active"
        status = await status_of(stack, workflow_id)
        last = status.decisions[-1]
        assert last.label is DecisionLabel.UNDONE and last.decided_by == "maria (CLI)"
        assert last.note == "owner verified by phone"
        updated = await message_about(stack, actor, "Undone")
        assert not has_button(updated, "undo") and "maria (CLI)" in str(updated["blocks"])

        code, said = await cli(stack, "undo", workflow_id)
        assert code == 0 and "already undone by maria (CLI)" in said
        writes = await akku_writes(stack, actor)
        assert writes.count(("unlock", "applied")) == 1 and len([w for w in writes if w[0] == "unlock"]) == 1


async def test_a_forged_operator_token_and_unknown_or_closed_runs_are_refused(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    async with running_stack(client, task_queue, riposte_playbooks_dir=locking_playbooks(tmp_path)) as stack:
        workflow_id, actor = await acted(stack)
        code, said = await cli(stack, "undo", workflow_id, token="maria:not-marias-token-at-all")
        assert code == 1 and "refused" in said and "did not check out" in said
        assert (await akku_user(stack, actor))["status"] == "locked"
        code, said = await cli(stack, "undo", "investigation-u_nobody")
        assert code == 1 and "no run" in said
        await stack.client.get_workflow_handle(workflow_id).terminate("closed for the test")
        code, said = await cli(stack, "undo", workflow_id)
        assert code == 1 and "is closed" in said and "Akku's console" in said
        assert (await click(stack, workflow_id, "undo", "U0ANALYST")).status_code == 200  # the old message's button
        said = await reply_saying(stack, "Not recorded")
        assert "this run has closed" in said and "Akku's console" in said
        assert (await akku_user(stack, actor))["status"] == "locked"


async def test_what_akku_cannot_reverse_is_explained_and_nothing_is_written(client: Client, task_queue: str) -> None:
    async with running_stack(client, task_queue) as stack:
        workflow_id, actor = await acted(stack)  # the shipped mfa-fatigue: reset MFA, force a password reset
        notice = await message_about(stack, actor, "Acted automatically")
        assert not has_button(notice, "undo")
        assert "cleared factors cannot be restored" in str(notice["blocks"])
        assert "a forced reset cannot be taken back" in str(notice["blocks"])
        before = await akku_writes(stack, actor)
        code, said = await cli(stack, "undo", workflow_id)
        assert code == 1 and "nothing here can be undone" in said and "reset MFA" in said
        code, said = await cli(stack, "undo", workflow_id, "--action", "reset_mfa")
        assert code == 1 and "cleared factors cannot be restored" in said
        assert await akku_writes(stack, actor) == before


async def test_a_revoked_role_is_named_and_sent_to_akkus_console(client: Client, task_queue: str) -> None:
    async with running_stack(client, task_queue) as stack:
        fired = await driver.fire_scenario(stack, "admin_elevation")
        ((workflow_id, _),) = (await driver.settle(stack, fired)).items()
        assert await driver.decide_via_cli(stack, workflow_id, operator="maria") == 0  # revoke the role
        await driver.wait_for_stage(stack.client, workflow_id, "approved")
        (hold,) = (await status_of(stack, workflow_id)).holds
        (why,) = hold.irreversible
        assert "re-grant the role" in why and "Akku's console" in why
        code, said = await cli(stack, "undo", workflow_id, "--action", "revoke_role")
        assert code == 1 and "re-grant the role" in said


async def test_the_person_under_investigation_cannot_undo(client: Client, task_queue: str, tmp_path: Path) -> None:
    async with running_stack(
        client, task_queue, riposte_playbooks_dir=locking_playbooks(tmp_path), slack_approver_ids="U0ANALYST,U0SELF"
    ) as stack:
        workflow_id, actor = await acted(stack)
        user = await akku_user(stack, actor)
        assert stack.slack_url
        async with httpx.AsyncClient() as http:
            await http.post(
                f"{stack.slack_url.rstrip('/')}/_sim/users",
                json={"id": "U0SELF", "name": "self", "real_name": "Them", "email": user["email"]},
            )
        await message_about(stack, actor, "Acted automatically")
        await click(stack, workflow_id, "undo", "U0SELF")
        said = await reply_saying(stack, "Not recorded")
        assert "the person under investigation cannot undo it" in said
        await asyncio.sleep(0.3)
        assert (await akku_user(stack, actor))["status"] == "locked"
        assert (await status_of(stack, workflow_id)).holds[0].outcome == "held"
