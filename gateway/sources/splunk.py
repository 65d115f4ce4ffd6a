"""Splunk's webhook alert action: six keys, `result` values are strings, one row per POST.

"For each result" sends the same `sid` once per row, so the dedup key is `sid` plus a hash
of the row: each row is its own alert, a redelivered row is a duplicate.
"""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.sources import Delivery, actor, digest, lookup, mapping, raw_text, text, timestamp, unique
from riposte.models.alert import Alert, Source


def parse(delivery: Delivery, config: GatewayConfig) -> Alert:
    body = mapping(delivery.payload, "Splunk webhook body")
    sid = text(body.get("sid"), "sid")
    result = mapping(body.get("result") or {}, "Splunk `result` row")
    source = config.source("splunk")
    rule = text(body.get("search_name"), "search_name", required=False) or "ad-hoc search"
    who = text(lookup(result, source.identity.field or "user"), "result.user", required=False)
    ips = [text(lookup(result, source.ip_field or "src_ip"), "result.src_ip", required=False) or ""]
    when = timestamp(result.get("_time"))
    return Alert(
        source=Source.SPLUNK,
        dedup_key=f"{sid}:{digest(result)}",
        rule_name=rule,
        detection=config.detection("splunk", rule),
        severity=config.severity("splunk", result.get("severity") or result.get("urgency")),
        actors=[actor(who, source.identity)] if who else [],
        source_ips=unique(ips),
        window_start=when,
        window_end=when,
        siem_url=text(body.get("results_link"), "results_link", required=False),
        received_at=delivery.received_at,
        raw=raw_text(delivery.raw),
    )
