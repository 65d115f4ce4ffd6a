"""AlertWorkflow: one run per alert delivery (its id derives from the alert's dedup key).

It turns the alert's identities into Akku actor ids, takes the alert-wide view of any
source IPs it names (the log rules' (docs/rules.md) brute force by source IP), then enriches the actors in
batches of 100 with bounded concurrency; each batch opens or joins one investigation
per actor (workflows/investigation.py). The evidence goes straight from the batch
activity into the investigations, so this history stays small for 5,000 actors. An
alert about at most 20 people (most alerts) does all of it in local activities, in one
workflow task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as LocalBudgetSpent

with workflow.unsafe.imports_passed_through():
    import workflows.patches as patches
    from activities.akku import AkkuActivities
    from activities.dispatch import DispatchActivities
    from activities.retry import (
        AKKU_READ,
        DISPATCH,
        DISPATCH_HEARTBEAT,
        DISPATCH_TIMEOUT,
        IP_ACTIVITY_TIMEOUT,
        LOCAL_BUDGET,
        LOCAL_MAX_PEOPLE,
        READ_HEARTBEAT,
        RESOLVE_TIMEOUT,
    )
    from riposte import search_attributes as sa
    from riposte.models.alert import IdentityKind
    from riposte.models.common import DetectionType
    from riposte.models.enrichment import IpActivityRequest, ResolveRequest
    from riposte.models.evidence import AlertContext, IpStats
    from riposte.models.runs import AlertRunInput, AlertRunOutcome, DispatchRequest

BATCH = 100  # Akku's batch query limit
CONCURRENCY = 4  # batches in flight at once
MAX_ACTORS = 5000  # one alert acts on at most this many accounts
RESOLVE_CHUNK = 500
ADMIN_HISTORY_DAYS = 90  # log rules (docs/rules.md): compare an admin against their own last 90 days
LIST_CAP = 100
ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


@workflow.defn(name="AlertWorkflow")
class AlertWorkflow:
    def __init__(self) -> None:
        self._local = False

    @workflow.run
    async def run(self, inp: AlertRunInput) -> AlertRunOutcome:
        alert = inp.alert
        playbook = inp.playbook.playbook
        until = max(t for t in (alert.window_end, alert.received_at) if t is not None)
        since = until - playbook.lookback
        workflow.set_current_details(f"Resolving {len(alert.actors)} identities")
        # An alert about a handful of people (most alerts) reads Akku and dispatches in local
        # activities, inside this run's first workflow task: no activity task round trips, no
        # further workflow tasks. A storm's reads and batches stay activities: heartbeats,
        # bounded concurrency, each seen on its own in the UI.
        self._local = len(alert.actors) <= LOCAL_MAX_PEOPLE and workflow.patched(patches.LOCAL_DISPATCH)

        actor_ids: dict[str, None] = {}  # ordered set
        unknown: list[str] = []
        to_resolve = [ref for ref in alert.actors if ref.kind is not IdentityKind.AKKU_ID]
        for ref in alert.actors:
            if ref.kind is IdentityKind.AKKU_ID:
                actor_ids[ref.value] = None
        for start in range(0, len(to_resolve), RESOLVE_CHUNK):
            resolved = await self._step(
                AkkuActivities.resolve_identities,
                ResolveRequest(refs=to_resolve[start : start + RESOLVE_CHUNK]),
                timeout=RESOLVE_TIMEOUT,
                heartbeat=READ_HEARTBEAT,
                retry=AKKU_READ,
            )
            actor_ids.update(dict.fromkeys(resolved.actor_ids.values()))
            unknown += resolved.unknown

        ip_stats: list[IpStats] = []
        if alert.source_ips:
            workflow.set_current_details(f"Reading activity of {len(alert.source_ips)} source IPs")
            activity = await self._step(
                AkkuActivities.ip_activity,
                IpActivityRequest(ips=alert.source_ips[:LIST_CAP], since=since, until=until),
                timeout=IP_ACTIVITY_TIMEOUT,
                heartbeat=READ_HEARTBEAT,
                retry=AKKU_READ,
            )
            ip_stats = activity.stats
            if alert.add_actors_seen_from_ips:
                actor_ids.update(dict.fromkeys(activity.actor_ids))

        actors = list(actor_ids)[:MAX_ACTORS]
        context = AlertContext(actor_count=len(actors), ip_stats=ip_stats[:LIST_CAP])
        admin_days = ADMIN_HISTORY_DAYS if alert.detection is DetectionType.ADMIN_ELEVATION else None
        batches = [actors[i : i + BATCH] for i in range(0, len(actors), BATCH)]
        workflow.set_current_details(f"Enriching {len(actors)} actors in {len(batches)} batches")

        gate = asyncio.Semaphore(CONCURRENCY)
        investigations: list[str] = []
        self._local = self._local and len(batches) == 1  # people seen from the IPs may make it a storm

        async def dispatch(batch: list[str]) -> None:
            request = DispatchRequest(
                alert_workflow_id=workflow.info().workflow_id,
                alert=alert.ref,
                playbook=inp.playbook,
                actor_ids=batch,
                since=since,
                until=until,
                context=context,
                options=inp.options,
                admin_history_days=admin_days,
            )
            async with gate:
                result = await self._step(
                    DispatchActivities.enrich_and_dispatch,
                    request,
                    timeout=DISPATCH_TIMEOUT,
                    heartbeat=DISPATCH_HEARTBEAT,
                    retry=DISPATCH,
                )
            investigations.extend(result.investigations)
            unknown.extend(result.unknown_actor_ids)

        await asyncio.gather(*(dispatch(b) for b in batches))
        summary = f"{alert.detection.value}: {len(investigations)} investigations opened or joined" + (
            f", {len(unknown)} unknown identities" if unknown else ""
        )
        workflow.set_current_details(summary)
        if not workflow.patched(patches.ALERT_STAGE_AT_START):  # the run's status says it dispatched
            workflow.upsert_search_attributes([sa.STAGE.value_set("dispatched")])
        return AlertRunOutcome(
            alert_workflow_id=workflow.info().workflow_id,
            detection=alert.detection,
            playbook=inp.playbook.name,
            actors_flagged=len(alert.actors),
            actors_resolved=len(actors),
            unknown_identities=unknown[:LIST_CAP],
            investigations=investigations[:LIST_CAP],
            enrichment_batches=len(batches),
        )

    async def _step(
        self,
        method: Callable[[Any, ArgT], Awaitable[ResultT]],
        arg: ArgT,
        *,
        timeout: timedelta,
        heartbeat: timedelta,
        retry: RetryPolicy,
    ) -> ResultT:
        """A local activity within its budget for a small alert; otherwise, or if that failed or
        ran out of time (Akku slow or down), an ordinary activity with its retries and heartbeats.
        Every step is idempotent (reads; signal-with-start of findings the investigations dedup)."""
        if self._local:
            try:
                return await workflow.execute_local_activity_method(
                    method, arg, schedule_to_close_timeout=LOCAL_BUDGET, retry_policy=retry
                )
            except (ActivityError, LocalBudgetSpent) as err:
                # a budget spent arrives as an ActivityError when it happens, but as a bare
                # TimeoutError when the run is replayed from its marker: both mean "fall back"
                cause = err.cause if isinstance(err, ActivityError) else err
                workflow.logger.warning("a local step failed; continuing with activities", extra={"error": str(cause)})
                self._local = False
        return await workflow.execute_activity_method(
            method, arg, start_to_close_timeout=timeout, heartbeat_timeout=heartbeat, retry_policy=retry
        )
