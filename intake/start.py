"""Starting the alert run: the workflow id is the alert's dedup key, so nothing starts twice.

Shared by the webhook gateway (gateway/app.py) and the Akku-stream detector (activities/detector.py):
an alert from either lands in the same runs and investigations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from riposte import search_attributes as sa
from riposte.models.alert import Alert, IdentityKind
from riposte.models.playbook import PlaybookSnapshot
from riposte.models.runs import AlertRunInput, RunOptions
from riposte.pseudonyms import RunNames
from riposte.settings import Settings
from riposte.temporal import run_url


@dataclass(frozen=True)
class StartedRun:
    workflow_id: str
    run_id: str
    status: str  # started | duplicate
    ui_url: str | None

    def body(self) -> dict[str, str]:
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "status": self.status,
            "ui_url": self.ui_url or "",
        }


ACTORS_PER_RUN = 1000  # keeps every run's input far below Temporal's payload limits (~60 KB at most)


def split(alert: Alert, size: int = ACTORS_PER_RUN) -> list[Alert]:
    """An alert naming thousands of people fans out into runs of `size`, each with its own dedup key.

    The source IPs travel with the first part only, so their alert-wide view is taken once; no
    part adds the people seen from those IPs, since the alert names them in one part or another
    (a credential-stuffing alert's IPs touch every named account: each part would enrich all of them).
    """
    if len(alert.actors) <= size:
        return [alert]
    chunks = [alert.actors[i : i + size] for i in range(0, len(alert.actors), size)]
    return [
        alert.model_copy(
            update={
                "actors": chunk,
                "dedup_key": f"{alert.dedup_key}#{n + 1}/{len(chunks)}",
                "source_ips": alert.source_ips if n == 0 else [],
                "add_actors_seen_from_ips": False,
            }
        )
        for n, chunk in enumerate(chunks)
    ]


def alert_workflow_id(alert: Alert) -> str:
    return f"alert-{alert.source.value}-{hashlib.sha256(alert.dedup_key.encode()).hexdigest()[:32]}"


def summary(alert: Alert, playbook: PlaybookSnapshot) -> str:
    who = ", ".join(a.value for a in alert.actors[:3]) + (f" +{len(alert.actors) - 3}" if len(alert.actors) > 3 else "")
    return f"{alert.source.value}: {alert.rule_name} → {playbook.name} ({who or 'by source IP'})"[:200]


async def start_alert_run(client: Client, alert: Alert, playbook: PlaybookSnapshot, settings: Settings) -> StartedRun:
    workflow_id = alert_workflow_id(alert)
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.SOURCE, alert.source.value),
        SearchAttributePair(sa.DETECTION, [alert.detection.value]),
        SearchAttributePair(sa.PLAYBOOK, playbook.name),
        SearchAttributePair(sa.STAGE, "received"),
    ]
    ids = [a.value for a in alert.actors if a.kind is IdentityKind.AKKU_ID]
    if len(alert.actors) == 1 and ids:
        attributes.append(SearchAttributePair(sa.ACTOR, RunNames.from_settings(settings).actor_ref(ids[0])))
    options = RunOptions(
        dry_run=settings.riposte_dry_run or playbook.playbook.dry_run,
        ui_url=settings.ui_url,
        namespace=settings.temporal_namespace,
    )
    try:
        handle = await client.start_workflow(
            "AlertWorkflow",
            AlertRunInput(alert=alert, playbook=playbook, options=options),
            id=workflow_id,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(attributes),
            static_summary=summary(alert, playbook),
            static_details=f"SIEM link: {alert.siem_url or 'none'}\ndedup key: {alert.dedup_key[:200]}",
        )
    except WorkflowAlreadyStartedError as exc:
        run_id = exc.run_id or (await client.get_workflow_handle(workflow_id).describe()).run_id
        link = run_url(settings.ui_url, settings.temporal_namespace, workflow_id, run_id)
        return StartedRun(workflow_id, run_id, "duplicate", link)
    run_id = handle.result_run_id or ""
    return StartedRun(
        workflow_id, run_id, "started", run_url(settings.ui_url, settings.temporal_namespace, workflow_id, run_id)
    )
