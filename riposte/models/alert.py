"""A SIEM alert, normalised. Gateway parsers produce it; the alert workflow consumes it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from riposte.models.common import DetectionType, Model, Severity

RAW_PAYLOAD_CAP = 16 * 1024  # bytes of the original payload kept for the record


class Source(StrEnum):
    SPLUNK = "splunk"
    SENTINEL = "sentinel"
    ELASTIC = "elastic"
    GENERIC = "generic"
    AKKU = "akku"  # Riposte's own detection from Akku's event stream (detect/)


class IdentityKind(StrEnum):
    """What a SIEM put in its user field; non-Akku kinds are resolved through Akku's user lookup."""

    AKKU_ID = "akku_id"
    EMAIL = "email"
    UPN = "upn"


class ActorRef(Model):
    kind: IdentityKind
    value: str


class Alert(Model):
    source: Source
    dedup_key: str = Field(description="the source's natural key; same delivery => same key")
    rule_name: str
    detection: DetectionType
    severity: Severity = Severity.MEDIUM
    actors: list[ActorRef] = Field(default_factory=list)
    source_ips: list[str] = Field(default_factory=list)
    add_actors_seen_from_ips: bool = Field(
        default=True,
        description="investigate the other people seen from source_ips too; off for the parts of an alert "
        "split by the gateway, which name everyone already (each part would otherwise pull in all of them)",
    )
    window_start: datetime | None = None
    window_end: datetime | None = None
    siem_url: str | None = None
    received_at: datetime
    raw: str = Field(default="", description=f"original JSON, capped at {RAW_PAYLOAD_CAP} bytes")

    @property
    def ref(self) -> AlertRef:
        return AlertRef(
            source=self.source,
            dedup_key=self.dedup_key,
            rule_name=self.rule_name,
            detection=self.detection,
            severity=self.severity,
            siem_url=self.siem_url,
            received_at=self.received_at,
        )


class AlertRef(Model):
    """The slice of an alert that travels with each per-actor finding."""

    source: Source
    dedup_key: str
    rule_name: str
    detection: DetectionType
    severity: Severity
    siem_url: str | None = None
    received_at: datetime
