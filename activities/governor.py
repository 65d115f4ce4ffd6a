"""Asking the ActionGovernor workflow for a permit (update-with-start, from an activity).

Every automatic action needs a permit from the one governor workflow, whose updates run one
at a time; under a storm (one alert naming 5,000 people) one update per permit made the
governor the bottleneck, and permits waited past their activity timeout. So the requests
of one worker process are coalesced: whatever arrives while an update is in flight goes
out together in the next `acquire_batch` update (up to BATCH_MAX), and each activity gets
its own answer. A retried activity sends the same key and gets the same answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from riposte.models.governor import (
    ACQUIRE_BATCH,
    STATE,
    GovernorInput,
    GovernorState,
    Pause,
    PermitBatch,
    PermitBatchDecision,
    PermitDecision,
    PermitRequest,
    governor_task_queue,
    governor_workflow_id,
)

# Temporal admits 10 in-flight updates per workflow (history.maxInFlightUpdates); each worker
# process keeps at most this many batches in flight, so several workers stay under it.
BATCHES_IN_FLIGHT = 2
BATCH_MAX = 200


class PermitBatcher:
    """Coalesces one process's permit requests into few governor updates."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue
        self._waiting: list[tuple[PermitRequest, asyncio.Future[PermitDecision]]] = []
        self._in_flight = asyncio.Semaphore(BATCHES_IN_FLIGHT)
        self._senders: set[asyncio.Task[None]] = set()

    async def acquire(self, request: PermitRequest) -> PermitDecision:
        answer: asyncio.Future[PermitDecision] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, answer))
        sender = asyncio.create_task(self._send())
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)
        return await answer

    async def _send(self) -> None:
        async with self._in_flight:
            # whatever queued while earlier batches were in flight goes out now, together
            batch = [(r, a) for r, a in self._waiting[:BATCH_MAX] if not a.done()]
            del self._waiting[:BATCH_MAX]
            if not batch:
                return
            start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
                "ActionGovernor",
                GovernorInput(),
                id=governor_workflow_id(self._task_queue),
                task_queue=governor_task_queue(self._task_queue),
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary="Rations automatic account actions across every run",
            )
            try:
                result: PermitBatchDecision = await self._client.execute_update_with_start_workflow(
                    ACQUIRE_BATCH,
                    PermitBatch(requests=[r for r, _ in batch]),
                    start_workflow_operation=start,
                    result_type=PermitBatchDecision,
                )
            except BaseException as exc:  # every waiting activity learns of the failure
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
                if not isinstance(exc, Exception):
                    raise
                return
            for (_, answer), decision in zip(batch, result.decisions, strict=True):
                if not answer.done():
                    answer.set_result(decision)

    async def aclose(self) -> None:
        for sender in list(self._senders):
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


class GovernorActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._batcher = PermitBatcher(client, task_queue)

    @activity.defn(name="Ask the action governor for a permit")
    async def acquire_permit(self, request: PermitRequest) -> PermitDecision:
        return await self._batcher.acquire(request)

    async def aclose(self) -> None:
        await self._batcher.aclose()


async def current_pause(client: Client, task_queue: str) -> Pause | None:
    """The emergency stop in force (None too when no governor has run yet, or it cannot be asked)."""
    from temporalio.service import RPCError

    try:
        state: GovernorState = await client.get_workflow_handle(governor_workflow_id(task_queue)).query(
            STATE, result_type=GovernorState
        )
    except RPCError:
        return None
    return state.paused
