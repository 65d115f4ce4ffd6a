"""Enrichment fan-out: one activity per batch of 100 actors.

Enriching in Akku and opening investigations happen in the same activity so the
evidence (a few KB per actor) travels straight into each investigation's signal and
never through the alert run's history: an alert naming 5,000 actors costs the alert
run 50 activities with small results. Signal-with-start is idempotent here because
each investigation ignores a finding id it has already seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)

from activities.akku import gather_evidence, lookups_for, translated
from clients.akku.client import AkkuClient
from riposte import search_attributes as sa
from riposte.models.enrichment import EvidenceRequest
from riposte.models.runs import ADD_FINDING, DispatchRequest, DispatchResult, Finding, InvestigationInput
from riposte.pseudonyms import RunNames

SIGNAL_CONCURRENCY = 20
HEARTBEAT_EVERY = 5.0  # seconds; the alert run's heartbeat timeout for this activity is 20 s


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
        local = activity.info().is_local  # a one-batch alert's dispatch: no heartbeats to send
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
            ids = await asyncio.gather(*(hand_over(f) for f in findings))
        finally:
            if ticker:
                ticker.cancel()
        return DispatchResult(
            investigations=list(ids),
            unknown_actor_ids=batch.unknown_actor_ids,
        )
