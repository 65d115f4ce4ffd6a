"""Realistic payloads in each SIEM's own format, for the demo, the tests and the benchmarks.

`delivery()` turns the Akku simulator's scenario facts into the exact HTTP request that
SIEM would send with the shipped rules (detections/): URL, body bytes and headers,
authenticated as that SIEM would be. `splunk_payload`, `sentinel_payload` and
`elastic_payload` are the older shapes the gateway still reads (a `user` row, a log alert's
dimensions, ECS `user.*` documents).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from gateway.auth import sign
from riposte.settings import Settings


def splunk_payload(facts: dict[str, Any], *, row: int = 0, sid: str | None = None) -> dict[str, Any]:
    sid = sid or f"scheduler__soc_svc__search__RMD5{uuid.uuid4().hex[:16]}_at_{int(time.time())}_{row}"
    emails = facts.get("emails") or facts["actor_ids"]
    ips = facts.get("source_ips") or [""]
    return {
        "sid": sid,
        "search_name": facts["rule_name"],
        "app": "search",
        "owner": "soc_svc",
        "results_link": f"https://splunk.example.test:8000/app/search/@go?sid={sid}",
        "result": {
            "_time": str(int(time.time())),
            "user": emails[row % len(emails)],
            "src_ip": ips[row % len(ips)],
            "failures": "12",
            "severity": facts.get("severity", "high"),
        },
    }


def sentinel_payload(facts: dict[str, Any]) -> dict[str, Any]:
    """Azure Monitor common alert schema from a log alert on the Sentinel workspace."""
    guid = uuid.uuid4()
    dimensions = [{"name": "UserPrincipalName", "value": e} for e in facts.get("emails") or []]
    dimensions += [{"name": "IPAddress", "value": ip} for ip in facts.get("source_ips") or []]
    sev = {"critical": "Sev0", "high": "Sev1", "medium": "Sev2", "low": "Sev3"}[facts.get("severity", "medium")]
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": f"/subscriptions/00000000-1111-2222-3333-444444444444/providers/Microsoft.AlertsManagement/alerts/{guid}",
                "alertRule": facts["rule_name"],
                "severity": sev,
                "signalType": "Log",
                "monitorCondition": "Fired",
                "monitoringService": "Log Alerts V2",
                "firedDateTime": facts["window_end"],
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "conditionType": "LogQueryCriteria",
                "condition": {
                    "windowStartTime": facts["window_start"],
                    "windowEndTime": facts["window_end"],
                    "allOf": [
                        {
                            "searchQuery": "SigninLogs | summarize by UserPrincipalName, IPAddress",
                            "dimensions": dimensions,
                            "linkToFilteredSearchResultsUI": "https://portal.azure.com/#blade/Microsoft_OperationsManagementSuite_Workspace",
                        }
                    ],
                },
            },
            "customProperties": None,
        },
    }


def elastic_payload(facts: dict[str, Any]) -> dict[str, Any]:
    """Kibana webhook connector body carrying `context.alerts` of ECS alert documents."""
    emails = facts.get("emails") or []
    ips = facts.get("source_ips") or [None]
    alerts = [
        {
            "@timestamp": facts["window_end"],
            "kibana.alert.uuid": str(uuid.uuid4()),
            "kibana.alert.rule.name": facts["rule_name"],
            "kibana.alert.severity": facts.get("severity", "high"),
            "user": {"name": email, "id": actor},
            "source": {"ip": ips[i % len(ips)]},
            "event": {"kind": "signal", "action": "mfa-push", "outcome": "failure"},
        }
        for i, (email, actor) in enumerate(zip(emails, facts["actor_ids"], strict=False))
    ]
    return {
        "context": {
            "rule": {
                "id": "a1b2c3d4-rule",
                "rule_id": facts["scenario"],
                "name": facts["rule_name"],
                "severity": facts.get("severity"),
            },
            "results_link": "https://kibana.example.test/app/security/alerts",
            "alerts": alerts,
        }
    }


def splunk_rule_payload(facts: dict[str, Any]) -> dict[str, Any]:
    """A row of a shipped SPL rule (detections/splunk/): every flagged account in `actor_ids`, mvjoined."""
    body = splunk_payload(facts)
    body["result"] = {
        "_time": str(int(time.time())),
        "actor_ids": ",".join(facts["actor_ids"]),
        "source_ips": ",".join(facts.get("source_ips") or []),
        "severity": facts.get("severity", "high"),
    }
    return body


def sentinel_incident_payload(facts: dict[str, Any]) -> dict[str, Any]:
    """A shipped KQL rule's incident, as the Logic App body (detections/sentinel/logic-app-body.json)
    carries it: the custom details `ActorIds` / `SourceIps` (arrays as JSON text) and the entities."""
    details = {"ActorIds": [json.dumps(facts["actor_ids"])], "SourceIps": [json.dumps(facts.get("source_ips") or [])]}
    entities = [{"kind": "Account", "properties": {"accountName": a, "friendlyName": a}} for a in facts["actor_ids"]]
    entities += [
        {"kind": "Ip", "properties": {"address": ip, "friendlyName": ip}} for ip in facts.get("source_ips") or []
    ]
    return {
        "incident_arm_id": f"/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-soc/providers/Microsoft.OperationalInsights/workspaces/law-soc/providers/Microsoft.SecurityInsights/Incidents/{uuid.uuid4()}",
        "title": facts["rule_name"],
        "severity": facts.get("severity", "medium").capitalize(),
        "incident_url": "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/x",
        "entities": entities,
        "alerts": [
            {
                "properties": {
                    "alertDisplayName": facts["rule_name"],
                    "additionalData": {"Custom Details": json.dumps(details)},
                }
            }
        ],
    }


def elastic_rule_payload(facts: dict[str, Any]) -> dict[str, Any]:
    """A shipped ES|QL rule's alert (detections/elastic/) in the connector body: the row's columns."""
    body = elastic_payload(facts)
    body["context"]["alerts"] = [
        {
            "@timestamp": facts["window_end"],
            "kibana.alert.uuid": str(uuid.uuid4()),
            "kibana.alert.rule.name": facts["rule_name"],
            "actor_ids": facts["actor_ids"],
            "source_ips": facts.get("source_ips") or [],
        }
    ]
    return body


def generic_payload(facts: dict[str, Any], *, alert_id: str | None = None) -> dict[str, Any]:
    return {
        "alert_id": alert_id or f"{facts['scenario']}-{uuid.uuid4().hex[:12]}",
        "rule_name": facts["rule_name"],
        "detection": facts["detection"],
        "severity": facts.get("severity", "medium"),
        "actors": [{"id": a} for a in facts["actor_ids"]],
        "source_ips": facts.get("source_ips") or [],
        "window_start": facts.get("window_start"),
        "window_end": facts.get("window_end"),
    }


def delivery(
    source: str, facts: dict[str, Any], settings: Settings, gateway_url: str, *, alert_id: str | None = None
) -> tuple[str, bytes, dict[str, str]]:
    """(url, body, headers) exactly as `source` would send the scenario's alert."""
    token = settings.riposte_webhook_token.get_secret_value() if settings.riposte_webhook_token else ""
    headers = {"Content-Type": "application/json"}
    if source == "splunk":
        return f"{gateway_url}/webhooks/splunk?token={token}", json.dumps(splunk_rule_payload(facts)).encode(), headers
    if source in ("sentinel", "elastic"):
        payload = sentinel_incident_payload(facts) if source == "sentinel" else elastic_rule_payload(facts)
        return (
            f"{gateway_url}/webhooks/{source}",
            json.dumps(payload).encode(),
            {**headers, "Authorization": f"Bearer {token}"},
        )
    body = json.dumps(generic_payload(facts, alert_id=alert_id)).encode()
    if settings.riposte_webhook_secret:
        msg_id = f"msg_{uuid.uuid4().hex}"
        headers |= sign(settings.riposte_webhook_secret[0].get_secret_value(), msg_id, int(time.time()), body)
    else:
        headers["Authorization"] = f"Bearer {token}"
    return f"{gateway_url}/webhooks/generic", body, headers
