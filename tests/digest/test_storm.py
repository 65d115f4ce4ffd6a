"""A credential-stuffing wave past the action limit, end to end: the approvals fold into one digest,
one Approve all acts on every approvable person exactly once, and a second click is refused."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import Client

from cli import driver
from cli.rig import running_stack
from cli.stack import Stack
from clients.akku.client import AkkuClient
from riposte.models.digest import INDIVIDUAL_LIMIT
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

LIMIT = 25
SUBJECT = "U0SUBJECT"  # an approver who is also one of the people in the wave


async def reply(http: httpx.AsyncClient, slack_url: str | None, reply_id: str) -> str:
    """What the clicker was told (on response_url, a moment after the 200)."""
    for _ in range(100):
        replies: list[dict[str, Any]] = (await sim(http, slack_url, "/_sim/replies"))["replies"]
        said = [str(r["text"]) for r in replies if r["reply_id"] == reply_id]
        if said:
            return said[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no reply {reply_id}")


async def source_ips_of(stack: Stack, actor: str) -> set[str]:
    async with AkkuClient.from_settings(stack.settings) as akku:
        since = datetime.now(UTC) - timedelta(days=1)
        return {e.source_ip async for e in akku.iter_events(since, actor_ids=[actor]) if e.source_ip}


async def wave(client: Client, task_queue: str, count: int) -> None:
    asked = count - LIMIT
    async with (
        running_stack(client, task_queue, akku_staff=count + 100, slack_approver_ids=["U0ANALYST", SUBJECT]) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        facts = await driver.load_scenario(http, stack, "credential_stuffing", count=count)
        subject = facts["actor_ids"][-1]
        user = await sim(http, driver.simulator_root(stack.akku_url), f"/_sim/users/{subject}")
        assert stack.slack_url
        added = await http.post(
            f"{stack.slack_url.rstrip('/')}/_sim/users",
            json={"id": SUBJECT, "name": "subject", "real_name": "Sam Subject", "email": user["email"]},
        )
        assert added.status_code == 200
        others = {**facts, "actor_ids": facts["actor_ids"][:-1]}
        assert (await driver.deliver(http, stack, "generic", others)).status_code == 202
        await until_stages(client, task_queue, {"acted": LIMIT, "waiting_for_approval": asked - 1}, timeout=240)
        late = {**facts, "actor_ids": [subject]}  # the subject's own alert comes last: it lands in the digest
        assert (await driver.deliver(http, stack, "generic", late, alert_id="late")).status_code == 202
        await until_stages(client, task_queue, {"waiting_for_approval": asked}, timeout=60)

        (digest_id,) = await digest_ids(client, task_queue)
        for _ in range(200):
            status = await digest_status(client, digest_id)
            if status.entries == asked and status.posted and status.posted.ts:
                break
            await asyncio.sleep(0.2)
        assert status.entries == asked
        for _ in range(300):  # the message catches up with the burst (one update every few seconds)
            messages = await approval_messages(http, stack)
            if any(f"{asked} people waiting" in m["text"] for m in digests(messages)):
                break
            await asyncio.sleep(0.2)
        assert len(messages) <= INDIVIDUAL_LIMIT + 1 <= 3, [m["text"] for m in messages]
        (digest,) = digests(messages)
        assert f"{asked} people waiting" in digest["text"]
        before = len(await writes(http, stack))

        clicked = time.monotonic()
        answer = await click_digest(http, stack, digest, "approve", SUBJECT)
        assert answer.status_code == 200, answer.text
        approved = await until_stages(client, task_queue, {"approved": asked - 1}, timeout=120)
        want = before + 2 * (asked - 1)  # lock and end sessions, once each
        while len(done := await writes(http, stack)) < want and time.monotonic() - clicked < 120:
            await asyncio.sleep(0.1)
        last_write = time.monotonic() - clicked
        applied = Counter((w["actor_id"], w["action"]) for w in done if w["status"] == "applied")
        assert set(applied.values()) == {1}, "a person was acted on twice"
        written = {actor for actor, _ in applied}
        if subject in written:  # say how: which decision wrote to the person who clicked Approve all
            mine = await driver.investigation_status(client, f"investigation-{subject}")
            raise AssertionError(f"the subject was written to: {mine.decisions if mine else None}")
        assert len(written) == LIMIT + asked - 1
        assert approved[f"investigation-{subject}"] == "waiting_for_approval"

        mine = await driver.investigation_status(client, f"investigation-{subject}")
        assert mine is not None and mine.pending is not None  # still waiting for someone else
        someone = next(w for w, s in approved.items() if s == "approved")
        theirs = await driver.investigation_status(client, someone)
        assert theirs is not None and theirs.decisions[-1].decided_by == "subject via digest"

        status = await digest_status(client, digest_id)
        assert status.outcomes[f"investigation-{subject}"].state == "refused"
        assert "not allowed" in status.outcomes[f"investigation-{subject}"].detail
        assert Counter(o.state for o in status.outcomes.values()) == {"decided": asked - 1, "refused": 1}

        again = await click_digest(http, stack, digest, "approve", SUBJECT)
        assert again.status_code == 200
        said = await reply(http, stack.slack_url, again.json()["reply_id"])
        assert "nothing left to decide" in said
        for _ in range(50):  # the message tells the outcome
            messages = await approval_messages(http, stack)
            text = str(digests(messages)[0]["blocks"])
            if "Not recorded" in text:
                break
            await asyncio.sleep(0.2)
        assert "Not recorded" in text and "not allowed" in text
        print(
            f"\n{count}-person wave: {len(messages)} approval messages at the top level (1 digest of {asked}), "
            f"Approve all -> last of {2 * (asked - 1)} writes after {last_write:.1f} s"
        )


async def test_a_60_person_wave_is_one_digest_and_one_click(client: Client, task_queue: str) -> None:
    await wave(client, task_queue, 60)
