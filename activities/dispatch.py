"""Enrichment fan-out: one activity per batch of 100 actors.

Enriching in Akku and opening investigations happen in the same activity so the
evidence (a few KB per actor) travels straight into each investigation's signal and
never through the alert run's history: an alert naming 5,000 actors costs the alert
run 50 activities with small results. Signal-with-start is idempotent here because
each investigation ignores a finding id it has already seen.

A storm's batches are paced (the first attempt of a batch of more than 20 people). A worker keeps at most 1,000 runs in its workflow cache (the SDK's
default); opened all at once, 5,000 investigations evicted each other, and every workflow task
of an evicted run replayed its history from the start (a 2,000-person storm: 194 s with the
cache overrun, 128 s when it held them all). So a batch opens its investigations PACE_SLICE at a
time, each slice once at most IN_FLIGHT_MAX investigations on the task queue are still
assessing or acting. Slices, and counts at jittered times, keep the batches that wait together
(a 5,000-person alert runs as 5 alert runs with 4 batches in flight each) from all seeing the
same room and opening 2,000 investigations into it at once. Counted from visibility, so every
worker and every alert shares the bound; each worker process counts at most once a second and
remembers what its own batches opened since. A count that fails, or a batch that has waited
PACE_MAX in all, never holds the rest back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)

from activities.akku import gather_evidence, lookups_for, translated
from activities.retry import LOCAL_MAX_PEOPLE
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
PACE_EVERY = 1.0  # seconds between a process's counts, at least
COUNT_TIMEOUT = timedelta(seconds=5)
WAITING_MAX = 40  # batches of one worker process waiting for room at once (of its 100 activity slots)
IN_FLIGHT = (Stage.ASSESSING, Stage.ACTING)

log = logging.getLogger("riposte.dispatch")


def in_flight_query(task_queue: str) -> str:
    """Visibility: the investigations on `task_queue` still assessing or acting (a worker's busy runs)."""
    stages = ", ".join(f"'{s.value}'" for s in IN_FLIGHT)
    return (
        f"WorkflowType = 'InvestigationWorkflow' AND TaskQueue = '{task_queue}' "
        f"AND ExecutionStatus = 'Running' AND {sa.STAGE.name} IN ({stages})"
    )


class Pacer:
    """Room for a storm's investigations, one per worker process and task queue.

    Counts those in flight at most once every PACE_EVERY seconds, however many batches of the
    process wait (visibility has its own rate limit: 10 requests a second per namespace on a
    self-hosted frontend by default), and adds what the process's own batches opened since that
    count, so two batches of one process never take the same room. At most WAITING_MAX batches
    of the process wait at once: each holds an activity slot while it waits, and slots beyond
    those stay free for the permits and writes the investigations need (a flood of storms is
    then dispatched unpaced, as before pacing, rather than starving them). Pacing only ever
    advises: a count that fails or hangs never holds a batch back."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._query = in_flight_query(task_queue)
        self._lock = asyncio.Lock()
        self._counted_at = -math.inf
        self._busy = 0
        self._opened = 0  # by this process's batches since the last count
        self._waiting = 0
        self.counts = 0  # visibility requests made (for tests and metrics)

    async def _take(self, people: int, bound: int) -> bool:
        """Whether `people` more fit; if so they are reserved until the next count includes them."""
        async with self._lock:
            if time.monotonic() - self._counted_at >= PACE_EVERY:
                self.counts += 1
                try:
                    found = await self._client.count_workflows(self._query, rpc_timeout=COUNT_TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - pacing is advice: an unanswered count lets the batch go
                    log.warning("pacing skipped: visibility did not answer (%s)", exc)
                    # asked again only after PACE_EVERY: until then nothing counts as in flight
                    self._busy, self._opened, self._counted_at = 0, 0, time.monotonic()
                    return True
                self._busy, self._opened, self._counted_at = found.count, 0, time.monotonic()
            busy = self._busy + self._opened
            if busy + people <= bound or busy == 0:
                self._opened += people
                return True
            return False

    async def room_for(self, people: int, *, bound: int | None = None, most: float | None = None) -> float:
        """Waits until opening `people` more investigations keeps those in flight within `bound`
        (IN_FLIGHT_MAX), or `most` (PACE_MAX) seconds have passed; returns the seconds waited."""
        bound = IN_FLIGHT_MAX if bound is None else bound
        most = PACE_MAX if most is None else most
        started = time.monotonic()
        if await self._take(people, bound):
            return 0.0
        if self._waiting >= WAITING_MAX:
            self._opened += people
            return 0.0
        self._waiting += 1
        try:
            while time.monotonic() - started < most:
                # jittered: batches of other processes that wait together must not all count at once
                await asyncio.sleep(PACE_EVERY * (0.5 + random.random()))  # noqa: S311 - spacing, not security
                if await self._take(people, bound):
                    break
            else:
                self._opened += people
        finally:
            self._waiting -= 1
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
        self.pacer = Pacer(client, task_queue)

    @activity.defn(name="Enrich actors in Akku and open investigations")
    async def enrich_and_dispatch(self, request: DispatchRequest) -> DispatchResult:
        began = time.monotonic()
        info = activity.info()
        local = info.is_local  # a one-batch alert's dispatch: no heartbeats to send
        # a storm's batch, the first time: a small alert's batch is never paced, even when its local
        # step fell back to an activity, and a retry hands over what is left without waiting again
        paced = len(request.actor_ids) > LOCAL_MAX_PEOPLE and info.attempt == 1
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
            if not paced:
                ids = await asyncio.gather(*(hand_over(f) for f in findings))
            else:  # a slice at a time, each once there is room: PACE_MAX in all, Akku's reads included
                ids = []
                for first in range(0, len(findings), PACE_SLICE):
                    part = findings[first : first + PACE_SLICE]
                    most = max(0.0, began + PACE_MAX - time.monotonic())
                    await self.pacer.room_for(len(part), most=most)
                    ids += await asyncio.gather(*(hand_over(f) for f in part))
        finally:
            if ticker:
                ticker.cancel()
        return DispatchResult(
            investigations=list(ids),
            unknown_actor_ids=batch.unknown_actor_ids,
        )
