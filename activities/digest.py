"""The approval digest's activities: join one (update-with-start), decide through it, follow it up.

`join` runs for an investigation: workflows cannot start other workflows with an update, so an
activity does it, and the answer says whether the request is posted on its own or left to the
digest. `decide_many` sends each investigation of a bulk click the very `decide` update a single
click sends, so each person's validator decides whether the click counts for them; its answer
(or refusal) is what the digest shows. `still_pending` asks open requests whether they still
wait; `post_thread` posts requests in the digest's thread for review one by one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.slack import _slack
from activities.slack_blocks import approval_blocks, headline
from riposte.models.digest import (
    JOIN,
    WINDOW,
    DecidedOne,
    DecideMany,
    DecideManyResult,
    DigestInput,
    EntryOutcome,
    JoinAnswer,
    JoinRequest,
    StillPending,
    ThreadPost,
    ThreadPosted,
    digest_id,
)
from riposte.models.runs import DECIDE, STATUS, DecisionAck, DecisionRequest, InvestigationStatus

JOIN_PATIENCE = 20.0  # seconds an attempt waits its turn among a wave's joins, then Temporal retries it
BUSY = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.ABORTED)
JOINS_IN_FLIGHT = 5  # per digest, from one worker (the dev server allows 10 updates in flight per workflow)
PARALLEL = 20  # decide updates in flight at once
THREAD_CAP = 50  # requests posted in the thread per click (Slack allows about one post a second)
T = TypeVar("T")


async def _bounded(items: list[T], work: Callable[[T], Awaitable[None]], parallel: int = PARALLEL) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(item: T) -> None:
        async with gate:
            await work(item)

    await asyncio.gather(*(one(i) for i in items))


def operation_for(request: JoinRequest, found: str) -> WithStartWorkflowOperation[Any, Any]:
    """Starts the digest if it is not running yet (one operation per attempt)."""
    start = int(found.rsplit("/", 1)[-1])
    window_end = datetime.fromtimestamp(start, UTC) + WINDOW
    return WithStartWorkflowOperation(
        "DigestWorkflow",
        DigestInput(digest_id=found, playbook=request.playbook, window_end=window_end),
        id=found,
        task_queue=request.queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary=f"Approval digest of {request.playbook}",
    )


class DigestActivities:
    def __init__(self, client: Client, slack: AsyncWebClient) -> None:
        self._client = client
        self._slack = slack
        self._turns: dict[str, asyncio.Semaphore] = {}

    def _turn(self, digest: str) -> asyncio.Semaphore:
        """This worker's joins to one digest, a few at a time: Temporal refuses more than a handful of
        updates in flight per workflow, and a wave of retries would only crowd each other out."""
        if len(self._turns) > 1000:
            self._turns = {k: v for k, v in self._turns.items() if v.locked()}
        return self._turns.setdefault(digest, asyncio.Semaphore(JOINS_IN_FLIGHT))

    @activity.defn(name="Join the approval digest")
    async def join(self, request: JoinRequest) -> JoinAnswer:
        found = digest_id(request.queue, request.playbook, request.at)
        operation = operation_for(request, found)
        # a wave joins at once and Temporal takes only a few updates per workflow in flight: wait a turn
        deadline = time.monotonic() + JOIN_PATIENCE
        while True:
            try:
                async with self._turn(found):
                    answer: JoinAnswer = await self._client.execute_update_with_start_workflow(
                        JOIN, request.entry, start_workflow_operation=operation, result_type=JoinAnswer
                    )
            except WorkflowUpdateFailedError as exc:  # the digest is closing: the request is posted on its own
                activity.logger.info("digest %s refused a join: %s", found, exc.cause)
                return JoinAnswer(digest_id=found, position=0, individual=True)
            except RPCError as exc:
                if exc.status not in BUSY or time.monotonic() > deadline:
                    raise
                activity.heartbeat()
                await asyncio.sleep(random.uniform(0.05, 0.5))  # noqa: S311 - jitter, not a secret
                operation = operation_for(request, found)
                continue
            return answer

    @activity.defn(name="Decide requests of the approval digest")
    async def decide_many(self, many: DecideMany) -> DecideManyResult:
        """Each target's `decide` update; a retry skips the targets already answered (heartbeats)."""
        details = activity.info().heartbeat_details
        done: dict[str, DecidedOne] = {}
        if details:
            earlier = DecideManyResult.model_validate(details[0])
            done = {r.workflow_id: r for r in earlier.results}
        decision = many.decision
        name = decision.decided_by_name or decision.decided_by

        async def one(target_index: int) -> None:
            target = many.targets[target_index]
            if target.workflow_id in done:
                return
            request = DecisionRequest(
                request_id=target.request_id,
                option_id=target.option_id,
                decided_by=decision.decided_by,
                decided_by_name=decision.decided_by_name,
                decided_by_email=decision.decided_by_email,
                via="slack",
                via_digest=many.digest_id,
            )
            handle = self._client.get_workflow_handle(target.workflow_id)
            try:
                ack = await handle.execute_update(DECIDE, request, result_type=DecisionAck)
            except WorkflowUpdateFailedError as exc:
                reason = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc.cause or exc)
                outcome = await self._elsewhere(target.workflow_id, target.request_id) or EntryOutcome(
                    state="refused", detail=reason, by=name, by_id=decision.decided_by
                )
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
                outcome = EntryOutcome(state="ended", detail="the run has ended", by=name, by_id=decision.decided_by)
            else:
                state = "decided" if ack.status == "decided" else "recorded"
                detail = target.option_id if state == "decided" else f"{ack.approvals}/{ack.required} approvals"
                outcome = EntryOutcome(state=state, detail=detail, by=name, by_id=decision.decided_by)
            done[target.workflow_id] = DecidedOne(workflow_id=target.workflow_id, outcome=outcome)
            activity.heartbeat(DecideManyResult(results=list(done.values())))

        await _bounded(list(range(len(many.targets))), one)
        return DecideManyResult(results=[done[t.workflow_id] for t in many.targets if t.workflow_id in done])

    @activity.defn(name="Check the approval digest's open requests")
    async def still_pending(self, pending: StillPending) -> DecideManyResult:
        """The requests no longer waiting (decided on their own message, by the CLI, by a timeout)."""
        changed: list[DecidedOne] = []

        async def one(index: int) -> None:
            entry = pending.entries[index]
            outcome = await self._elsewhere(entry.workflow_id, entry.request_id)
            activity.heartbeat()
            if outcome is not None:
                changed.append(DecidedOne(workflow_id=entry.workflow_id, outcome=outcome))

        await _bounded(list(range(len(pending.entries))), one)
        return DecideManyResult(results=changed)

    @activity.defn(name="Post the digest's requests in its thread")
    async def post_thread(self, post: ThreadPost) -> ThreadPosted:
        threads: dict[str, str] = {}
        for workflow_id in post.workflow_ids[:THREAD_CAP]:
            status = await self._status(workflow_id)
            activity.heartbeat()
            if status is None or status.pending is None:
                continue
            request = status.pending
            note = "Decide here, or for everyone with the digest's buttons."
            answer = await _slack(
                self._slack.chat_postMessage(
                    channel=post.posted.channel,
                    thread_ts=post.posted.ts,
                    text=headline(request),
                    blocks=approval_blocks(request, note=note),
                    unfurl_links=False,
                )
            )
            threads[workflow_id] = str(answer.get("ts") or "")
        return ThreadPosted(threads=threads)

    async def _elsewhere(self, workflow_id: str, request_id: str) -> EntryOutcome | None:
        """A refused request that is no longer pending was decided elsewhere (its own buttons, the CLI)."""
        try:
            status = await self._status(workflow_id)
        except RPCError:
            return None
        if status is not None and status.pending is not None and status.pending.request_id == request_id:
            return None
        if status is None or not status.decisions:
            return EntryOutcome(state="ended", detail="the run has ended")
        last = status.decisions[-1]
        return EntryOutcome(state="decided_elsewhere", detail=last.label.value, by=last.decided_by)

    async def _status(self, workflow_id: str) -> InvestigationStatus | None:
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            status: InvestigationStatus = await handle.query(STATUS, result_type=InvestigationStatus)
        except RPCError:
            try:
                described = await handle.describe()
            except RPCError as exc:
                if exc.status is RPCStatusCode.NOT_FOUND:
                    return None
                raise
            if described.status in (None, WorkflowExecutionStatus.RUNNING):
                raise
            return None
        return status
