"""A SIEM that sends one webhook per result row (Splunk's per-result alert action): 30 webhooks about
30 people, same rule, fold into one digest. Review individually posts them in its thread, a click there
decides one person, and Deny all dismisses the others, each through its own run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from temporalio.client import Client

from cli import driver
from cli.rig import playbooks_with, running_stack
from tests.digest.support import (
    approval_messages,
    click_digest,
    digest_ids,
    digest_status,
    digests,
    sim,
    until_stages,
    writes,
)

PEOPLE = 30


async def test_thirty_splunk_per_result_webhooks_fold_into_one_digest(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    # every score asks a person (no automatic band), so all 30 wait for a decision
    folder = playbooks_with(
        tmp_path,
        "credential-stuffing",
        "{min_score: 70, response: act, actions: [lock, revoke_sessions]}",
        "{min_score: 100, response: act, actions: [lock, revoke_sessions]}",
    )
    async with (
        running_stack(client, task_queue, riposte_playbooks_dir=folder) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        facts = await driver.load_scenario(http, stack, "credential_stuffing", count=PEOPLE)
        answers = await asyncio.gather(
            *(driver.deliver(http, stack, "splunk", {**facts, "actor_ids": [actor]}) for actor in facts["actor_ids"])
        )
        assert {a.status_code for a in answers} == {202}
        await until_stages(client, task_queue, {"waiting_for_approval": PEOPLE}, timeout=120)
        for _ in range(600):  # the runs wait before their requests have joined: the joins follow
            found = await digest_ids(client, task_queue)
            if found:
                status = await digest_status(client, found[0])
                if status.entries == PEOPLE and status.posted and status.posted.ts:
                    break
            await asyncio.sleep(0.2)
        (digest_id,) = found
        assert status.entries == PEOPLE
        messages = await approval_messages(http, stack)
        assert len(messages) <= 3
        (digest,) = digests(messages)

        # Review individually: the requests, each with its own buttons, in the digest's thread
        assert (await click_digest(http, stack, digest, "review", "U0ANALYST")).status_code == 200
        for _ in range(300):
            messages = (await sim(http, stack.slack_url, "/_sim/messages"))["messages"]
            thread = [m for m in messages if m.get("thread_ts") == digest["ts"]]
            if len(thread) == PEOPLE:
                break
            await asyncio.sleep(0.2)
        assert len(thread) == PEOPLE
        assert len(await approval_messages(http, stack)) <= 3  # replies in a thread are not in the channel
        one = facts["actor_ids"][0]
        mine = await driver.investigation_status(client, f"investigation-{one}")
        assert mine is not None and mine.pending is not None
        clicked = await driver.click(
            http, stack, f"investigation-{one}", mine.pending.request_id, "approve", "U0ANALYST"
        )
        assert clicked.status_code == 200
        await driver.wait_for_stage(client, f"investigation-{one}", "approved")

        answer = await click_digest(http, stack, digest, "deny", "U0ANALYST")
        assert answer.status_code == 200
        dismissed = await until_stages(client, task_queue, {"dismissed": PEOPLE - 1}, timeout=60)
        assert sorted(dismissed.values()).count("dismissed") == PEOPLE - 1
        assert {w["actor_id"] for w in await writes(http, stack)} == {one}
        for _ in range(100):
            status = await digest_status(client, digest_id)
            if "in_flight" not in {o.state for o in status.outcomes.values()}:
                break
            await asyncio.sleep(0.2)
        states = {w: o.state for w, o in status.outcomes.items()}
        assert states.pop(f"investigation-{one}") == "decided_elsewhere"
        assert set(states.values()) == {"decided"}
