"""Enrichment fan-out: one activity per batch of 100 actors.

Enriching in Akku and opening investigations happen in the same activity so the
evidence (a few KB per actor) travels straight into each investigation's signal and
never through the alert run's history: an alert naming 5,000 actors costs the alert
run 50 activities with small results. Signal-with-start is idempotent here because
each investigation ignores a finding id it has already seen.

A storm's batches are paced. A worker keeps at most 1,000 runs in its workflow cache (the SDK's
default); opened all at once, 5,000 investigations evicted each other, and every workflow task
of an evicted run replayed its history from the start (a 2,000-person storm: 194 s with the
cache overrun, 128 s when it held them all). So a batch opens its investigations PACE_SLICE at a
time, each slice once at most IN_FLIGHT_MAX investigations on the task queue are still
assessing or acting. Slices, and counts at jittered times, keep the batches that wait together
(a 5,000-person alert runs as 5 alert runs with 4 batches in flight each) from all seeing the
same room and opening 2,000 investigations into it at once. Counted from visibility, so every
worker and every alert shares the bound; a count that fails, or a batch that has waited
PACE_MAX in all, never holds the rest back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError

from activities.akku import gather_evidence, lookups_for, translated
from clients.akku.client import AkkuClient
from riposte import search_attributes as sa
from riposte.models.enrichment import EvidenceRequest
from riposte.models.runs import ADD_FINDING, DispatchRequest, DispatchResult, Finding, InvestigationInput, Stage
from riposte.pseudonyms import RunNames

SIGNAL_CONCURRENCY = 20
HEARTBEAT_EVERY = 5.0  # seconds; the alert run's heartbeat timeout for this activity is 20 s
IN_FLIGHT_MAX = 500  # investigations assessing or acting before a storm's next batch opens more
PACE_SLICE = 10  # a batch opens its investigations this many at a time, each slice once there is room
PACE_MAX = 120.0  # seconds a batch waits in all at most (the activity's timeout is 5 minutes)
PACE_EVERY = 1.0  # seconds between counts while waiting, on average (jittered)
IN_FLIGHT = (Stage.ASSESSING, Stage.ACTING)

log = logging.getLogger("riposte.dispatch")


def in_flight_query(task_queue: str) -> str:
    """Visibility: the investigations on `task_queue` still assessing or acting (a worker's busy runs)."""
    stages = ", ".join(f"'{s.value}'" for s in IN_FLIGHT)
    return (
        f"WorkflowType = 'InvestigationWorkflow' AND TaskQueue = '{task_queue}' "
        f"AND ExecutionStatus = 'Running' AND {sa.STAGE.name} IN ({stages})"
    )


async def room_for(
    client: Client, task_queue: str, people: int, *, bound: int | None = None, most: float = PACE_MAX
) -> float:
    """Waits until opening `people` more investigations keeps those in flight within `bound`
    (IN_FLIGHT_MAX), or `most` seconds have passed, or visibility cannot say; returns the seconds
    waited."""
    bound = IN_FLIGHT_MAX if bound is None else bound
    started = time.monotonic()
    query = in_flight_query(task_queue)
    while time.monotonic() - started < most:
        try:
            busy = (await client.count_workflows(query)).count
        except RPCError as exc:
            log.warning("pacing skipped: visibility did not answer (%s)", exc.message)
            break
        if busy + people <= bound or busy == 0:
            break
        # jittered: batches that wait together must not all see the same room and take it at once
        await asyncio.sleep(PACE_EVERY * (0.5 + random.random()))  # noqa: S311 - spacing, not security
    return time.monotonic() - started


async def _heartbeat_every(seconds: float, progress: Callable[[], str]) -> None:
    while True:
        activity.heartbeat(progress())
        await asyncio.sleep(seconds)


class DispatchActivities:
    def __init__(self, akku: AkkuClient, client: Client, task_queue: str, names: RunNames | None = None) -> None:
        self._akku = akku
        self._client = client
        self._task_queue = task_queue
        self._names = names or RunNames(None)

    @activity.defn(name="Enrich actors in Akku and open investigations")
    async def enrich_and_dispatch(self, request: DispatchRequest) -> DispatchResult:
        local = activity.info().is_local  # a one-batch alert's dispatch: no heartbeats to send, no pacing
        batch = await translated(
            gather_evidence(
                self._akku,
                EvidenceRequest(
                    actor_ids=request.actor_ids,
                    since=request.since,
                    until=request.until,
                    admin_history_days=request.admin_history_days,
                ),
                lookups_for(request.playbook.playbook),  # what this playbook's factors read beyond the actors
            )
        )
        if not local:
            activity.heartbeat("enriched")
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)
        handed: list[str] = []

        async def hand_over(finding: Finding) -> str:
            async with gate:
                workflow_id = self._names.investigation_id(finding.evidence.actor_id)
                await self._client.start_workflow(
                    "InvestigationWorkflow",
                    InvestigationInput(actor_id=finding.evidence.actor_id, options=request.options),
                    id=workflow_id,
                    task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    start_signal=ADD_FINDING,
                    start_signal_args=[finding],
                    search_attributes=TypedSearchAttributes(
                        [
                            SearchAttributePair(sa.ACTOR, self._names.actor_ref(finding.evidence.actor_id)),
                            SearchAttributePair(sa.DETECTION, [finding.alert.detection.value]),
                            SearchAttributePair(sa.SOURCE, finding.alert.source.value),
                            SearchAttributePair(sa.PLAYBOOK, request.playbook.name),
                            SearchAttributePair(sa.STAGE, "assessing"),
                        ]
                    ),
                    static_summary=f"Investigation of {finding.evidence.actor_id}",
                )
                handed.append(workflow_id)
                return workflow_id

        findings = [
            Finding(
                finding_id=request.alert_workflow_id,
                alert=request.alert,
                playbook=request.playbook,
                evidence=evidence,
                context=request.context,
            )
            for evidence in batch.evidence
            if evidence.known
        ]
        # Heartbeat on a clock while signals are in flight: when Temporal is saturated (a storm) a
        # single signal-with-start can take longer than the heartbeat timeout, and a batch must not
        # be retried (re-reading Akku) only because its calls are slow. A dead worker stops the clock.
        ticker = None
        if not local:
            ticker = asyncio.create_task(_heartbeat_every(HEARTBEAT_EVERY, lambda: f"{len(handed)} handed over"))
        try:
            if local:
                ids = await asyncio.gather(*(hand_over(f) for f in findings))
            else:  # a storm's batch: a slice at a time, each once there is room (PACE_MAX in all)
                ids, deadline = [], time.monotonic() + PACE_MAX
                for first in range(0, len(findings), PACE_SLICE):
                    part = findings[first : first + PACE_SLICE]
                    most = max(0.0, deadline - time.monotonic())
                    await room_for(self._client, self._task_queue, len(part), most=most)
                    ids += await asyncio.gather(*(hand_over(f) for f in part))
        finally:
            if ticker:
                ticker.cancel()
        return DispatchResult(
            investigations=list(ids),
            unknown_actor_ids=batch.unknown_actor_ids,
        )
