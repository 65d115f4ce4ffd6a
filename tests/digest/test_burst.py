"""A SIEM that sends one webhook per result row (Splunk's per-result alert action): 30 webhooks about
30 people, same rule, fold into one digest; Deny all dismisses each of them through its own run."""

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

        answer = await click_digest(http, stack, digest, "deny", "U0ANALYST")
        assert answer.status_code == 200
        dismissed = await until_stages(client, task_queue, {"dismissed": PEOPLE}, timeout=60)
        assert set(dismissed.values()) == {"dismissed"}
        assert await writes(http, stack) == []
        status = await digest_status(client, digest_id)
        assert {o.state for o in status.outcomes.values()} == {"decided"}
