"""Signed clicks decide runs end to end: deny, each action button, two people, double and
concurrent clicks — always exactly one decision and one set of writes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from cli import driver
from cli.rig import playbooks_with, running_stack
from cli.stack import Stack


async def click(stack: Stack, workflow_id: str, option: str, user: str) -> httpx.Response:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        for _ in range(100):  # until the message is posted
            answer = await http.post(
                f"{stack.slack_url.rstrip('/')}/_sim/click",
                json={"workflow_id": workflow_id, "option_id": option, "user_id": user},
            )
            if answer.status_code != 404:
                return answer
            await asyncio.sleep(0.05)
    raise AssertionError("no message to click")


async def replies(stack: Stack) -> list[str]:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        return [r["text"] for r in (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/replies")).json()["replies"]]


async def wait_reply(stack: Stack, text: str) -> None:
    for _ in range(100):
        if any(text in r for r in await replies(stack)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply saying {text!r}: {await replies(stack)}")


async def writes(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        found: list[dict[str, Any]] = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()[
            "writes"
        ]
    return found


async def waiting(stack: Stack) -> str:
    fired = await driver.fire_scenario(stack, "admin_elevation")
    ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
    assert status.pending is not None
    return workflow_id


async def test_deny_and_each_action_button(client: Client, task_queue: str) -> None:
    async with running_stack(client, task_queue) as stack:
        workflow_id = await waiting(stack)
        assert (await click(stack, workflow_id, "dismiss", "U0ANALYST")).status_code == 200
        await driver.wait_for_stage(stack.client, workflow_id, "dismissed")
        assert await writes(stack) == []
        await wait_reply(stack, "Recorded")


async def test_the_revoke_and_lock_button(client: Client, task_queue: str) -> None:
    async with running_stack(client, task_queue) as stack:
        workflow_id = await waiting(stack)
        assert (await click(stack, workflow_id, "revoke_and_lock", "U0ANALYST")).status_code == 200
        await driver.wait_for_stage(stack.client, workflow_id, "approved")
        done = {(w["actor_id"], w["action"]) for w in await writes(stack)}
        admin = workflow_id.removeprefix("investigation-")
        assert ("u_admin3", "lock") in done and admin == "u_admin3"
        assert any(action == "role_revoke" for _, action in done)


async def test_two_people_must_agree(client: Client, task_queue: str, tmp_path: Path) -> None:
    folder = playbooks_with(tmp_path, "admin-elevation", "  required_approvers: 1\n", "  required_approvers: 2\n")
    async with running_stack(
        client, task_queue, riposte_playbooks_dir=folder, slack_approver_ids="U0ANALYST,U0LEAD"
    ) as stack:
        workflow_id = await waiting(stack)
        await click(stack, workflow_id, "revoke_role", "U0ANALYST")
        await wait_reply(stack, "waiting for another approver")
        await click(stack, workflow_id, "revoke_role", "U0ANALYST")  # the same person again
        await wait_reply(stack, "already decided")
        status = await driver.investigation_status(stack.client, workflow_id)
        assert status is not None and status.pending is not None and status.approvals == ["U0ANALYST"]
        await click(stack, workflow_id, "revoke_role", "U0LEAD")
        await driver.wait_for_stage(stack.client, workflow_id, "approved")
        assert [w["action"] for w in await writes(stack)] == ["role_revoke"]


async def test_concurrent_clicks_make_one_decision(client: Client, task_queue: str) -> None:
    async with running_stack(client, task_queue, slack_approver_ids="U0ANALYST,U0LEAD") as stack:
        workflow_id = await waiting(stack)
        answers = await asyncio.gather(
            click(stack, workflow_id, "revoke_role", "U0ANALYST"),
            click(stack, workflow_id, "dismiss", "U0LEAD"),
            click(stack, workflow_id, "revoke_role", "U0ANALYST"),  # a double click
        )
        assert all(a.status_code == 200 for a in answers)
        for _ in range(100):
            if len(await replies(stack)) == 3:
                break
            await asyncio.sleep(0.05)
        texts = await replies(stack)
        assert sum("Recorded:" in t for t in texts) == 1 and sum("Not recorded" in t for t in texts) == 2, texts
        status = await driver.investigation_status(stack.client, workflow_id)
        assert status is not None and len(status.decisions) == 1
        final = status.decisions[0]
        expected = [] if final.option_id == "dismiss" else ["role_revoke"]
        await driver.wait_for_stage(stack.client, workflow_id, "dismissed" if expected == [] else "approved")
        assert [w["action"] for w in await writes(stack)] == expected
