"""The source parsers on the shapes SIEMs really send: multivalue fields in every spelling,
Sentinel custom details and bare Account names, Kibana's single-alert rendering, and the
older single-field mappings still read. Pure parsing: no Temporal, no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from gateway.config import DEFAULT_FILE, GatewayConfig
from gateway.errors import NotAnAlert
from gateway.sources import Delivery, elastic, samples, sentinel, splunk, values
from riposte.models.alert import Alert, IdentityKind
from riposte.settings import load_settings

CONFIG = GatewayConfig.model_validate(yaml.safe_load(DEFAULT_FILE.read_text()))
# config/sources.yaml as it was before `actors` / `ips`: one identity field, one IP field per source
OLD_CONFIG = GatewayConfig.model_validate(
    {
        "defaults": {"detections": [{"pattern": "brute", "detection": "brute_force"}]},
        "sources": {
            "splunk": {"identity": {"field": "user", "kind": "email"}, "ip_field": "src_ip"},
            "elastic": {"identity": {"field": "user.name", "kind": "email"}, "ip_field": "source.ip"},
        },
    }
)


def parse(module: Any, payload: Any, config: GatewayConfig = CONFIG) -> Alert:
    alert: Alert = module.parse(Delivery(payload, json.dumps(payload).encode(), datetime.now(UTC)), config)
    return alert


def people(alert: Alert) -> list[tuple[IdentityKind, str]]:
    return [(a.kind, a.value) for a in alert.actors]


@pytest.mark.parametrize(
    "given",
    [
        ["u_1", "u_2"],
        "u_1,u_2",
        "u_1\nu_2",
        "u_1, u_2;",
        '["u_1", "u_2"]',
        ['["u_1","u_2"]'],
        "[u_1, u_2]",
    ],
    ids=["list", "commas", "newlines", "mixed", "json-text", "sentinel-array-of-json", "brackets"],
)
def test_a_multivalue_field_in_every_spelling(given: Any) -> None:
    assert values(given, "actor_ids") == ["u_1", "u_2"]


def test_a_json_array_cut_short_gives_the_values_that_arrived_whole() -> None:
    assert values('["u_1","u_2","u_3', "ActorIds") == ["u_1", "u_2"]


def test_a_multivalue_field_that_is_an_object_is_refused() -> None:
    with pytest.raises(NotAnAlert, match="actor_ids must be text or a list"):
        values({"id": "u_1"}, "actor_ids")
    with pytest.raises(NotAnAlert, match="actor_ids must be a JSON array of text"):
        values('[["u_1"], {"id": "u_2"}]', "actor_ids")


def test_deeply_nested_array_text_is_no_crash() -> None:
    alert = parse(splunk, splunk_body({"actor_ids": "[" * 100_000, "user": "x@example.com"}))
    assert people(alert) == [(IdentityKind.EMAIL, "x@example.com")]


def splunk_body(result: dict[str, Any]) -> dict[str, Any]:
    return {"sid": "sid-1", "search_name": "Brute force by source IP", "app": "search", "owner": "o", "result": result}


def test_splunk_reads_the_first_actor_field_a_row_has() -> None:
    alert = parse(splunk, splunk_body({"actor_ids": "u_1\nu_2", "user": "x@example.com", "source_ip": "203.0.113.9"}))
    assert people(alert) == [(IdentityKind.AKKU_ID, "u_1"), (IdentityKind.AKKU_ID, "u_2")]
    assert alert.source_ips == ["203.0.113.9"]


def test_splunk_rows_of_older_searches_still_name_their_person() -> None:
    body = splunk_body({"user": "jdoe@example.com", "src_ip": "203.0.113.9"})
    for config in (CONFIG, OLD_CONFIG):
        alert = parse(splunk, body, config)
        assert people(alert) == [(IdentityKind.EMAIL, "jdoe@example.com")] and alert.source_ips == ["203.0.113.9"]


def test_elastic_reads_ecs_user_id_only_when_it_is_an_akku_id() -> None:
    docs = [
        {"kibana.alert.uuid": "a", "user": {"id": "u_7", "name": "a@example.com"}},
        {"kibana.alert.uuid": "b", "user": {"id": "3f2a-entra-guid", "name": "b@example.com"}},
    ]
    alert = parse(elastic, {"context": {"rule": {"name": "Brute force by source IP"}, "alerts": docs}})
    assert people(alert) == [(IdentityKind.AKKU_ID, "u_7"), (IdentityKind.EMAIL, "b@example.com")]
    old = parse(elastic, {"context": {"rule": {"name": "Brute force"}, "alerts": docs}}, OLD_CONFIG)
    assert people(old) == [(IdentityKind.EMAIL, "a@example.com"), (IdentityKind.EMAIL, "b@example.com")]


def test_elastic_accepts_one_alert_rendered_as_a_bare_object() -> None:
    doc = {"kibana.alert.uuid": "a", "actor_ids": ["u_1", "u_2"], "source_ips": "203.0.113.9"}
    alert = parse(elastic, {"context": {"rule": {"name": "Brute force by source IP"}, "alerts": doc}})
    assert [a.value for a in alert.actors] == ["u_1", "u_2"] and alert.source_ips == ["203.0.113.9"]


def test_sentinel_incident_reads_custom_details_and_bare_account_names() -> None:
    body = {
        "incident_arm_id": "/subscriptions/x/incidents/1",
        "title": "Akku - MFA failure spike across accounts",
        "custom_details": {"SourceIps": ["203.0.113.9"]},
        "alerts": [{"properties": {"additionalData": {"Custom Details": '{"ActorIds": ["[\\"u_1\\",\\"u_2\\"]"]}'}}}],
        "entities": [
            {"kind": "Account", "properties": {"accountName": "u_3"}},
            {"kind": "Account", "properties": {"accountName": "jdoe", "upnSuffix": "example.test"}},
        ],
    }
    alert = parse(sentinel, body)
    assert people(alert) == [
        (IdentityKind.AKKU_ID, "u_1"),
        (IdentityKind.AKKU_ID, "u_2"),
        (IdentityKind.AKKU_ID, "u_3"),
        (IdentityKind.UPN, "jdoe@example.test"),
    ]
    assert alert.source_ips == ["203.0.113.9"] and alert.detection.value == "credential_stuffing"


def test_sentinel_custom_details_that_are_not_json_are_a_clear_422() -> None:
    body = {
        "incident_arm_id": "i",
        "title": "t",
        "alerts": [{"properties": {"additionalData": {"Custom Details": "{"}}}],
    }
    with pytest.raises(NotAnAlert, match="Custom Details must be a JSON object"):
        parse(sentinel, body)


def test_sentinel_log_alert_dimensions_name_akku_ids_or_upns() -> None:
    def alert_with(dimensions: list[dict[str, str]]) -> dict[str, Any]:
        essentials = {"alertId": "/alerts/1", "alertRule": "MFA push flood", "severity": "Sev1"}
        condition = {"allOf": [{"dimensions": dimensions}]}
        return {
            "schemaId": "azureMonitorCommonAlertSchema",
            "data": {"essentials": essentials, "alertContext": {"condition": condition}},
        }

    by_id = parse(
        sentinel, alert_with([{"name": "ActorId", "value": "u_9"}, {"name": "IPAddress", "value": "203.0.113.9"}])
    )
    assert people(by_id) == [(IdentityKind.AKKU_ID, "u_9")] and by_id.source_ips == ["203.0.113.9"]
    by_upn = parse(sentinel, alert_with([{"name": "UserPrincipalName", "value": "jdoe@example.test"}]))
    assert people(by_upn) == [(IdentityKind.UPN, "jdoe@example.test")]


def test_an_actor_field_pattern_that_is_no_regex_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="not a regular expression"):
        GatewayConfig.model_validate({"sources": {"splunk": {"actors": [{"field": "x", "pattern": "("}]}}})


@pytest.mark.parametrize("source", ["splunk", "sentinel", "elastic"])
def test_the_demo_sends_what_the_shipped_rules_output(source: str) -> None:
    facts = {
        "scenario": "credential_stuffing",
        "rule_name": "Akku - MFA failure spike across accounts",
        "severity": "high",
        "actor_ids": ["u_1", "u_2", "u_3"],
        "emails": ["a@example.com", "b@example.com", "c@example.com"],
        "source_ips": ["203.0.113.9", "203.0.113.10"],
        "window_start": "2026-11-24T09:00:00.000Z",
        "window_end": "2026-11-24T09:30:00.000Z",
    }
    settings = load_settings(riposte_webhook_token="t")
    url, body, _ = samples.delivery(source, facts, settings, "http://gw")
    assert url.startswith(f"http://gw/webhooks/{source}")
    alert = parse({"splunk": splunk, "sentinel": sentinel, "elastic": elastic}[source], json.loads(body))
    assert people(alert) == [(IdentityKind.AKKU_ID, a) for a in facts["actor_ids"]]
    assert alert.source_ips == facts["source_ips"] and alert.detection.value == "credential_stuffing"
