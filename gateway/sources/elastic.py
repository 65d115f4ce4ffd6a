"""Kibana's webhook connector (Elastic Security rules): `context.alerts` of alert documents.

One POST is one alert run: the flagged people and IPs of every alert document in it; the
dedup key is the set of `kibana.alert.uuid`s, so a redelivery is a duplicate. Each document's
people come from the first field of `sources.elastic.actors` it has (the shipped ES|QL rules
in detections/elastic/ output `actor_ids`; ECS `user.id` / `user.name` for other rules).
"""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.config import GatewayConfig
from gateway.errors import NotAnAlert
from gateway.sources import Delivery, lookup, mapping, raw_text, read_actors, read_ips, text, timestamp, unique
from riposte.models.alert import ActorRef, Alert, Source


def parse(delivery: Delivery, config: GatewayConfig) -> Alert:
    body = mapping(delivery.payload, "Kibana webhook body")
    context = mapping(body.get("context") or {}, "context")
    alerts: Any = context.get("alerts")
    if isinstance(alerts, dict):  # `{{{context.alerts}}}` without `.asJSON` renders one alert as a bare object
        alerts = [alerts]
    if not isinstance(alerts, list) or not alerts:
        raise NotAnAlert("missing context.alerts (use {{{context.alerts.asJSON}}} in the connector's body)")
    source = config.source("elastic")
    rule = text(lookup(context, "rule.name") or lookup(body, "rule.name"), "context.rule.name")
    assert rule is not None
    uuids, ips, times = [], [], []
    actors: list[ActorRef] = []
    for doc in alerts:
        if not isinstance(doc, dict):
            raise NotAnAlert("each of context.alerts must be an object")
        uuid = lookup(doc, "kibana.alert.uuid") or doc.get("_id")
        uuids.append(text(uuid, "kibana.alert.uuid"))
        actors += read_actors(doc, source, default="user.name")
        ips += read_ips(doc, source, default="source.ip")
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
