"""Microsoft Sentinel: Azure Monitor's common alert schema, or an incident forwarded by a Logic App.

Common schema: dedup on `data.essentials.alertId` (the same for Fired and Resolved, so a
Resolved notice is a duplicate of its run); people and IPs come from the log query's
dimensions. Incident: dedup on the incident id; people and IPs come from the alerts' custom
details (each a JSON object of arrays of strings, `sources.sentinel.actors` / `.ips` name the
keys: the shipped rules in detections/sentinel/ set `ActorIds` and `SourceIps`) and from the
entities: Account gives `accountName` + `upnSuffix` (the UPN), a bare `accountName` (an Akku
id by default: `sources.sentinel.account_name`) or `aadUserId` (through `identity.map`).
"""

from __future__ import annotations

import json
from typing import Any

from gateway.config import GatewayConfig, Identity
from gateway.errors import NotAnAlert
from gateway.sources import (
    Delivery,
    actor,
    mapping,
    raw_text,
    read_actors,
    read_ips,
    text,
    timestamp,
    unique,
)
from riposte.models.alert import ActorRef, Alert, IdentityKind, Source


def parse(delivery: Delivery, config: GatewayConfig) -> Alert:
    body = mapping(delivery.payload, "Sentinel webhook body")
    if body.get("schemaId") == "azureMonitorCommonAlertSchema":
        return _common_schema(body, delivery, config)
    if "entities" in body or "incident_arm_id" in body or "object" in body:
        return _incident(body, delivery, config)
    raise NotAnAlert("neither Azure Monitor's common alert schema nor a Sentinel incident")


def _common_schema(body: dict[str, Any], delivery: Delivery, config: GatewayConfig) -> Alert:
    data = mapping(body.get("data"), "data")
    essentials = mapping(data.get("essentials"), "data.essentials")
    context = data.get("alertContext") or {}
    condition = context.get("condition") or {}
    dims = config.source("sentinel").dimensions
    identity = config.source("sentinel").identity
    people: list[str] = []
    ips: list[str] = []
    named: dict[str, list[Any]] = {}
    for clause in condition.get("allOf") or []:
        for dim in clause.get("dimensions") or []:
            name, value = dim.get("name"), dim.get("value")
            named.setdefault(str(name), []).append(value)
            if name in dims.account and value:
                people.append(str(value))
            elif name in dims.ip and value:
                ips.append(str(value))
    source = config.source("sentinel")
    actors = read_actors(named, source) or [actor(p, identity) for p in unique(people)]
    rule = text(essentials.get("alertRule"), "data.essentials.alertRule")
    assert rule is not None
    links = [
        c.get("linkToFilteredSearchResultsUI") or c.get("linkToSearchResultsUI") for c in condition.get("allOf") or []
    ]
    return Alert(
        source=Source.SENTINEL,
        dedup_key=text(essentials.get("alertId"), "data.essentials.alertId") or "",
        rule_name=rule,
        detection=config.detection("sentinel", rule),
        severity=config.severity("sentinel", essentials.get("severity")),
        actors=list({a.value: a for a in actors}.values()),
        source_ips=unique([*read_ips(named, source), *ips]),
        window_start=timestamp(condition.get("windowStartTime")),
        window_end=timestamp(condition.get("windowEndTime")) or timestamp(essentials.get("firedDateTime")),
        siem_url=next((link for link in links if link), None),
        received_at=delivery.received_at,
        raw=raw_text(delivery.raw),
    )


def _incident(body: dict[str, Any], delivery: Delivery, config: GatewayConfig) -> Alert:
    props = (body.get("object") or {}).get("properties") or {}
    entities = body.get("entities") or props.get("relatedEntities") or []
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise NotAnAlert("entities must be a list of entity objects")
    source = config.source("sentinel")
    identity = source.identity
    actors: list[ActorRef] = []
    ips: list[str] = []
    for details in _custom_details(body, props):
        actors += read_actors(details, source)
        ips += read_ips(details, source)
    for entity in entities:
        kind, p = entity.get("kind"), entity.get("properties") or {}
        if kind == "Account":
            if p.get("accountName") and p.get("upnSuffix"):
                actors.append(actor(f"{p['accountName']}@{p['upnSuffix']}", identity))
            elif p.get("accountName") and not p.get("aadUserId"):
                actors.append(actor(str(p["accountName"]), Identity(kind=source.account_name, map=identity.map)))
            elif p.get("aadUserId"):
                mapped = identity.map.get(p["aadUserId"])
                if mapped:
                    actors.append(ActorRef(kind=IdentityKind.AKKU_ID, value=mapped))
        elif kind == "Ip" and (p.get("address") or p.get("friendlyName")):
            ips.append(str(p.get("address") or p.get("friendlyName")))
    incident_id = body.get("incident_arm_id") or (body.get("object") or {}).get("id")
    rule = text(body.get("title") or props.get("title"), "title")
    assert rule is not None
    return Alert(
        source=Source.SENTINEL,
        dedup_key=text(incident_id, "incident_arm_id") or "",
        rule_name=rule,
        detection=config.detection("sentinel", rule),
        severity=config.severity("sentinel", body.get("severity") or props.get("severity")),
        actors=list({a.value: a for a in actors}.values()),
        source_ips=unique(ips),
        window_start=timestamp(props.get("firstActivityTimeUtc")),
        window_end=timestamp(props.get("lastActivityTimeUtc") or body.get("last_modified")),
        siem_url=text(body.get("incident_url") or props.get("incidentUrl"), "incident_url", required=False),
        received_at=delivery.received_at,
        raw=raw_text(delivery.raw),
    )


def _custom_details(body: dict[str, Any], props: dict[str, Any]) -> list[dict[str, Any]]:
    """Custom details: `custom_details` in the body, or each alert's `properties.additionalData["Custom
    Details"]` (a JSON object as text, as the incident trigger gives it), `{"ActorIds": ["u_1", ...]}`."""
    alerts = body.get("alerts") or props.get("Alerts") or []
    if not isinstance(alerts, list):
        raise NotAnAlert("alerts must be a list of Sentinel alerts")
    found = [body.get("custom_details")]
    for alert in alerts:
        data = mapping(mapping(alert, "each of alerts").get("properties") or {}, "alert properties")
        found.append(mapping(data.get("additionalData") or {}, "additionalData").get("Custom Details"))
    details: list[dict[str, Any]] = []
    for item in found:
        if isinstance(item, str) and item.strip():
            try:
                item = json.loads(item)
            except ValueError:
                raise NotAnAlert("Custom Details must be a JSON object") from None
        if item:
            details.append(mapping(item, "Custom Details"))
    return details
