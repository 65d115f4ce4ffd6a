"""Splunk's webhook alert action: six keys, `result` is the first row of the search, one row per POST.

"For each result" sends the same `sid` once per row, so the dedup key is `sid` plus a hash
of the row: each row is its own alert, a redelivered row is a duplicate. The row's people
and IPs come from the fields `sources.splunk.actors` / `.ips` name (the shipped rules in
detections/splunk/ output `actor_ids` and `source_ips`); a multivalue field may arrive as a
list or as text joined with commas or newlines.
"""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.sources import Delivery, digest, mapping, raw_text, read_actors, read_ips, text, timestamp, unique
from riposte.models.alert import Alert, Source


def parse(delivery: Delivery, config: GatewayConfig) -> Alert:
    body = mapping(delivery.payload, "Splunk webhook body")
    sid = text(body.get("sid"), "sid")
    result = mapping(body.get("result") or {}, "Splunk `result` row")
    source = config.source("splunk")
    rule = text(body.get("search_name"), "search_name", required=False) or "ad-hoc search"
    actors = read_actors(result, source, default="user")
    when = timestamp(result.get("_time"))
    return Alert(
        source=Source.SPLUNK,
        dedup_key=f"{sid}:{digest(result)}",
        rule_name=rule,
        detection=config.detection("splunk", rule),
        severity=config.severity("splunk", result.get("severity") or result.get("urgency")),
        actors=list({a.value: a for a in actors}.values()),
        source_ips=unique(read_ips(result, source, default="src_ip")),
        window_start=when,
        window_end=when,
        siem_url=text(body.get("results_link"), "results_link", required=False),
        received_at=delivery.received_at,
        raw=raw_text(delivery.raw),
    )
