"""Findings and evidence built by hand, for the pure scoring and decision tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playbooks.loader import PlaybookSet
from riposte.models.alert import AlertRef, Source
from riposte.models.common import DetectionType, Severity
from riposte.models.evidence import ActorEvidence, AlertContext, UserRecord
from riposte.models.runs import Finding

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
PLAYBOOKS = PlaybookSet.load(Path(__file__).resolve().parents[2] / "playbooks")


def finding(
    detection: DetectionType,
    evidence: ActorEvidence,
    *,
    context: AlertContext | None = None,
    playbook: str | None = None,
    finding_id: str = "f1",
    severity: Severity = Severity.HIGH,
) -> Finding:
    name = playbook or detection.value.replace("_", "-")
    snapshot = PLAYBOOKS.get(name)
    assert snapshot is not None, name
    alert = AlertRef(
        source=Source.GENERIC,
        dedup_key=finding_id,
        rule_name="r",
        detection=detection,
        severity=severity,
        received_at=NOW,
    )
    return Finding(
        finding_id=finding_id,
        alert=alert,
        playbook=snapshot,
        evidence=evidence,
        context=context or AlertContext(actor_count=1),
    )


def evidence(actor: str = "u_1", **fields: object) -> ActorEvidence:
    base: dict[str, object] = {
        "actor_id": actor,
        "user": UserRecord(actor_id=actor, email=f"{actor}@example.com"),
        "window_start": NOW - timedelta(hours=1),
        "window_end": NOW,
    }
    base.update(fields)
    return ActorEvidence.model_validate(base)
