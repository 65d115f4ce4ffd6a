"""DigestWorkflow with its activities replaced by doubles, on Temporal's time-skipping server: when it
posts, what a join answers, what a bulk click sends and how the outcome is reported, when it closes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import workflows.digest as digest_module
from cli.rig import start_time_skipping_server
from playbooks.decide import default_options
from riposte.models.common import ActionKind, DetectionType
from riposte.models.digest import (
    DECIDE_ALL,
    DIGEST_STATUS,
    JOIN,
    BulkAck,
    BulkDecision,
    DecidedOne,
    DecideMany,
    DecideManyResult,
    DigestEntry,
    DigestInput,
    DigestMessage,
    DigestPosted,
    DigestStatus,
    EntryOutcome,
    JoinAnswer,
    StillPending,
    ThreadPost,
    ThreadPosted,
)
from workflows.digest import DigestWorkflow

pytestmark = pytest.mark.time_skipping


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of each test's own: a digest still checking on a refused request
    must not hold the shared server's clock for the tests after it."""
    environment = await start_time_skipping_server()
    try:
        yield environment
    finally:
        await environment.shutdown()


@dataclass
class Doubles:
    posts: list[DigestMessage] = field(default_factory=list)
    updates: list[DigestMessage] = field(default_factory=list)
    sent: list[DecideMany] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # workflow id -> the reason its run gives
    elsewhere: set[str] = field(default_factory=set)  # decided on their own message

    def activities(self) -> list[Callable[..., Any]]:
        doubles = self

        @activity.defn(name="Post the approval digest in Slack")
        async def post_digest(message: DigestMessage) -> DigestPosted:
            doubles.posts.append(message)
            return DigestPosted(channel="C1", ts="1.0")

        @activity.defn(name="Update the approval digest in Slack")
        async def update_digest(message: DigestMessage) -> DigestPosted:
            doubles.updates.append(message)
            assert message.posted is not None
            return message.posted

        @activity.defn(name="Decide requests of the approval digest")
        async def decide_many(many: DecideMany) -> DecideManyResult:
            doubles.sent.append(many)
            results = []
            for t in many.targets:
                reason = doubles.refuse.get(t.workflow_id)
                state = "refused" if reason else "decided"
                outcome = EntryOutcome(state=state, detail=reason or t.option_id, by_id=many.decision.decided_by)
                results.append(DecidedOne(workflow_id=t.workflow_id, outcome=outcome))
            return DecideManyResult(results=results)

        @activity.defn(name="Check the approval digest's open requests")
        async def still_pending(pending: StillPending) -> DecideManyResult:
            return DecideManyResult(
                results=[
                    DecidedOne(workflow_id=e.workflow_id, outcome=EntryOutcome(state="decided_elsewhere"))
                    for e in pending.entries
                    if e.workflow_id in doubles.elsewhere
                ]
            )

        @activity.defn(name="Post the digest's requests in its thread")
        async def post_thread(post: ThreadPost) -> ThreadPosted:
            return ThreadPosted(threads={w: f"2.{i}" for i, w in enumerate(post.workflow_ids)})

        return [post_digest, update_digest, decide_many, still_pending, post_thread]


def entry(n: int) -> DigestEntry:
    return DigestEntry(
        workflow_id=f"investigation-u_{n}",
        request_id=f"1-{n}",
        actor_id=f"u_{n}",
        display_name=f"Person {n}",
        score=50 + n,
        source_ips=["203.0.113.7"],
        countries=["NL"],
        detection=DetectionType.CREDENTIAL_STUFFING,
        options=default_options([ActionKind.LOCK, ActionKind.REVOKE_SESSIONS]),
    )


@pytest.fixture
async def running(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[tuple[Doubles, WorkflowHandle[Any, Any]]]:
    doubles = Doubles()
    async with Worker(env.client, task_queue=task_queue, workflows=[DigestWorkflow], activities=doubles.activities()):
        digest = f"riposte-digest/{task_queue}/credential-stuffing/{uuid.uuid4().hex[:6]}"
        now = await env.get_current_time()
        handle = await env.client.start_workflow(
            "DigestWorkflow",
            DigestInput(digest_id=digest, playbook="credential-stuffing", window_end=now + timedelta(minutes=10)),
            id=digest,
            task_queue=task_queue,
        )
        yield doubles, handle
        with contextlib.suppress(RPCError):  # a test may have let it close
            await handle.terminate("test finished")


async def join(handle: WorkflowHandle[Any, Any], n: int) -> JoinAnswer:
    answer: JoinAnswer = await handle.execute_update(JOIN, entry(n), result_type=JoinAnswer)
    return answer


async def until(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


def click(choice: str, who: str = "U0ANALYST") -> BulkDecision:
    return BulkDecision(choice=choice, decided_by=who, decided_by_name=who.lower())


async def test_two_requests_post_on_their_own_and_the_third_opens_one_digest(
    running: tuple[Doubles, WorkflowHandle[Any, Any]],
) -> None:
    doubles, handle = running
    assert [(await join(handle, n)).individual for n in (1, 2)] == [True, True]
    await asyncio.sleep(0.3)
    assert doubles.posts == []  # two requests: nothing but their own messages
    third = await join(handle, 3)
    assert not third.individual and third.position == 3
    assert (await join(handle, 3)) == third  # a retried join: the same answer, no second entry
    await until(lambda: len(doubles.posts) == 1)
    first = doubles.posts[0]
    assert (first.count, first.names, first.score_min, first.score_max) == (
        3,
        ["Person 1", "Person 2", "Person 3"],
        51,
        53,
    )
    assert first.source_ips == [("203.0.113.7", 3)] and first.tally == {"waiting": 3}
    for n in range(4, 9):
        assert not (await join(handle, n)).individual
    await until(lambda: bool(doubles.updates) and doubles.updates[-1].count == 8)
    assert len(doubles.posts) == 1  # later joins update the same message


async def test_approve_all_reports_each_outcome_and_a_second_click_is_refused(
    running: tuple[Doubles, WorkflowHandle[Any, Any]],
) -> None:
    doubles, handle = running
    for n in range(1, 6):
        await join(handle, n)
    doubles.refuse["investigation-u_4"] = "the person under investigation cannot decide on it"
    ack: BulkAck = await handle.execute_update(DECIDE_ALL, click("approve"), result_type=BulkAck)
    assert ack.count == 5
    await until(lambda: bool(doubles.sent))
    (sent,) = doubles.sent
    assert {t.option_id for t in sent.targets} == {"approve"}
    await until(lambda: bool(doubles.updates) and "1 not recorded" in doubles.updates[-1].last_action)
    last = doubles.updates[-1]
    assert last.tally == {"decided": 4, "refused": 1}
    assert [(r.actor_id, r.detail) for r in last.refusals] == [
        ("u_4", "the person under investigation cannot decide on it")
    ]
    assert "4 decided" in last.last_action

    with pytest.raises(WorkflowUpdateFailedError) as refused:  # the refused one is refused for this clicker
        await handle.execute_update(DECIDE_ALL, click("approve"), result_type=BulkAck)
    assert "nothing left to decide" in str(refused.value.cause)
    again: BulkAck = await handle.execute_update(DECIDE_ALL, click("approve", "U0LEAD"), result_type=BulkAck)
    assert again.count == 1  # someone else may try the refused one
    status: DigestStatus = await handle.query(DIGEST_STATUS, result_type=DigestStatus)
    assert status.entries == 5


async def test_the_digest_closes_when_its_window_is_over_and_everything_is_decided(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = Doubles()
    async with Worker(env.client, task_queue=task_queue, workflows=[DigestWorkflow], activities=doubles.activities()):
        digest = f"riposte-digest/{task_queue}/credential-stuffing/short"
        now = await env.get_current_time()
        handle = await env.client.start_workflow(
            "DigestWorkflow",
            DigestInput(digest_id=digest, playbook="credential-stuffing", window_end=now + timedelta(seconds=3)),
            id=digest,
            task_queue=task_queue,
            result_type=DigestStatus,
        )
        for n in range(1, 4):
            await join(handle, n)
        await handle.execute_update(DECIDE_ALL, click("deny"), result_type=BulkAck)
        result = await asyncio.wait_for(handle.result(), 60)  # the window ends a few seconds in
    assert result.entries == 3
    assert {o.state for o in result.outcomes.values()} == {"decided"}
    assert doubles.updates[-1].closed
    assert {t.option_id for t in doubles.sent[0].targets} == {"dismiss"}


async def test_a_long_digest_continues_as_new_and_keeps_its_entries_message_and_outcomes(
    env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digest_module, "CONTINUE_AS_NEW_EVENTS", 40)
    doubles = Doubles()
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[DigestWorkflow],
        activities=doubles.activities(),
        workflow_runner=UnsandboxedWorkflowRunner(),  # lets the test lower the threshold
    ):
        digest = f"riposte-digest/{task_queue}/credential-stuffing/long"
        now = await env.get_current_time()
        started = await env.client.start_workflow(
            "DigestWorkflow",
            DigestInput(digest_id=digest, playbook="credential-stuffing", window_end=now + timedelta(minutes=10)),
            id=digest,
            task_queue=task_queue,
        )
        latest = env.client.get_workflow_handle(digest)  # follows continue-as-new
        for n in range(1, 13):
            await join(latest, n)
            await asyncio.sleep(0.05)
        await latest.execute_update(DECIDE_ALL, click("approve"), result_type=BulkAck)
        await until(lambda: bool(doubles.sent) and bool(doubles.updates) and "decided" in doubles.updates[-1].tally)
        for _ in range(100):
            status: DigestStatus = await latest.query(DIGEST_STATUS, result_type=DigestStatus)
            if (await latest.describe()).run_id != started.result_run_id and status.entries == 12:
                break
            await asyncio.sleep(0.1)
        assert (await latest.describe()).run_id != started.result_run_id, "never continued as new"
        assert status.entries == 12 and status.posted is not None and status.posted.ts == "1.0"
        assert len(doubles.posts) == 1  # the new run updates the same message
        assert sum(len(m.targets) for m in doubles.sent) == 12  # nobody decided twice across runs
        await latest.terminate("test finished")
