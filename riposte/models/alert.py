"""A SIEM alert, normalised. Gateway parsers produce it; the alert workflow consumes it."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum

from pydantic import Field, field_validator

from riposte.models.common import DetectionType, Model, Severity

RAW_PAYLOAD_CAP = 16 * 1024  # bytes of the original payload kept for the record
ACTOR_VALUE_MAX = 256  # characters: far beyond any id, email or UPN a directory issues
UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})  # control, format (bidi, zero-width), line/paragraph breaks


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
    """One person an alert names. The value ends up in Akku URL paths, workflow ids and Slack
    messages, so what cannot be an identity is refused here, for every source."""

    kind: IdentityKind
    value: str

    @field_validator("value")
    @classmethod
    def _an_identity(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("actor id is empty")
        if len(value) > ACTOR_VALUE_MAX:
            raise ValueError(f"actor id is longer than {ACTOR_VALUE_MAX} characters")
        if any(unicodedata.category(c) in UNPRINTABLE for c in value):
            raise ValueError("actor id contains control or invisible characters")
        if value.strip() in (".", ".."):
            raise ValueError("actor id is a path segment ('.' or '..')")
        return value


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
