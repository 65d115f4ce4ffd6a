"""The generic JSON alert: for anything that can POST JSON (documented in docs/siem/generic.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.config import GatewayConfig
from gateway.errors import NotAnAlert
from gateway.sources import Delivery, actor, raw_text, unique
from riposte.models.alert import ActorRef, Alert, IdentityKind, Source
from riposte.models.common import DetectionType, Severity


class GenericActor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="Akku actor id")
    email: str | None = None
    upn: str | None = None


class GenericAlert(BaseModel):
    """POST /webhooks/generic body."""

    model_config = ConfigDict(extra="ignore")

    alert_id: str | None = Field(default=None, description="your id; same id = same alert (else webhook-id)")
    rule_name: str = Field(min_length=1, max_length=500)
    detection: DetectionType | None = Field(default=None, description="else mapped from rule_name")
    severity: Severity = Severity.MEDIUM
    actors: list[GenericActor | str] = Field(default_factory=list, max_length=5000)
    source_ips: list[str] = Field(default_factory=list, max_length=1000)
    window_start: datetime | None = None
    window_end: datetime | None = None
    link: str | None = None


def parse(delivery: Delivery, config: GatewayConfig) -> Alert:
    try:
        body = GenericAlert.model_validate(delivery.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise NotAnAlert(f"{where}: {first['msg']}") from None
    key = body.alert_id or delivery.message_id
    if not key:
        raise NotAnAlert("alert_id is required (or sign the request: the webhook-id is then the key)")
    identity = config.source("generic").identity
    refs: list[ActorRef] = []
    for item in body.actors:
        if isinstance(item, str):
            refs.append(actor(item, identity))
        elif item.id:
            refs.append(ActorRef(kind=IdentityKind.AKKU_ID, value=item.id))
        elif item.email:
            refs.append(ActorRef(kind=IdentityKind.EMAIL, value=item.email))
        elif item.upn:
            refs.append(ActorRef(kind=IdentityKind.UPN, value=item.upn))
    return Alert(
        source=Source.GENERIC,
        dedup_key=key,
        rule_name=body.rule_name,
        detection=body.detection or config.detection("generic", body.rule_name),
        severity=body.severity,
        actors=list({r.value: r for r in refs}.values()),
        source_ips=unique(body.source_ips),
        window_start=body.window_start,
        window_end=body.window_end,
        siem_url=body.link,
        received_at=delivery.received_at,
        raw=raw_text(delivery.raw),
    )
