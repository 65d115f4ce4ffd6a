"""Kibana's webhook connector (Elastic Security rules): `context.alerts` of ECS alert documents.

One POST is one alert run: the flagged people and IPs of every alert document in it; the
dedup key is the set of `kibana.alert.uuid`s, so a redelivery is a duplicate.
"""

from __future__ import annotations

import hashlib

from gateway.config import GatewayConfig
from gateway.errors import NotAnAlert
from gateway.sources import Delivery, actor, lookup, mapping, raw_text, text, timestamp, unique
from riposte.models.alert import ActorRef, Alert, IdentityKind, Source


def parse(delivery: Delivery, config: GatewayConfig) -> Alert:
    body = mapping(delivery.payload, "Kibana webhook body")
    context = mapping(body.get("context") or {}, "context")
    alerts = context.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise NotAnAlert("missing context.alerts (use {{context.alerts}} in the connector's body)")
    source = config.source("elastic")
    rule = text(lookup(context, "rule.name") or lookup(body, "rule.name"), "context.rule.name")
    assert rule is not None
    uuids, actors, ips, times = [], [], [], []
    for doc in alerts:
        if not isinstance(doc, dict):
            raise NotAnAlert("each of context.alerts must be an object")
        uuid = lookup(doc, "kibana.alert.uuid") or doc.get("_id")
        uuids.append(text(uuid, "kibana.alert.uuid"))
        user_id, user_name = lookup(doc, "user.id"), lookup(doc, source.identity.field or "user.name")
        if user_id and str(user_id).startswith("u_"):
            actors.append(ActorRef(kind=IdentityKind.AKKU_ID, value=str(user_id)))
        elif user_name:
            actors.append(actor(str(user_name), source.identity))
        ips.append(str(lookup(doc, source.ip_field or "source.ip") or ""))
        times.append(timestamp(lookup(doc, "@timestamp") or lookup(doc, "kibana.alert.original_time")))
    stamps = [t for t in times if t]
    key = hashlib.sha256("|".join(sorted(u or "" for u in uuids)).encode()).hexdigest()[:32]
    return Alert(
        source=Source.ELASTIC,
        dedup_key=f"{lookup(context, 'rule.id') or rule}:{key}",
        rule_name=rule,
        detection=config.detection("elastic", rule),
        severity=config.severity("elastic", lookup(context, "rule.severity")),
        actors=list({a.value: a for a in actors}.values()),
        source_ips=unique(ips),
        window_start=min(stamps, default=None),
        window_end=max(stamps, default=None),
        siem_url=text(context.get("results_link"), "context.results_link", required=False),
        received_at=delivery.received_at,
        raw=raw_text(delivery.raw),
    )
