"""The webhook gateway over real HTTP, starting real workflows on the test's Temporal server.

No worker polls the queue: a started workflow exists as soon as Temporal accepts it, which
is exactly what a 202 promises.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from cli.rig import free_port
from gateway.app import create_app
from gateway.auth import sign
from gateway.sources import samples
from playbooks.loader import PlaybookSet
from riposte.models.alert import IdentityKind
from riposte.models.runs import AlertRunInput
from riposte.settings import Settings, load_settings
from tests.support.servers import running_app

TOKEN = "gw-test-token-0b9d2c"
SECRET = "whsec_Z3ctdGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ=="
OLD_SECRET = "whsec_b2xkLXNlY3JldC1yb3RhdGVkLWF3YXk="
PLAYBOOKS = PlaybookSet.load(Path(__file__).resolve().parents[2] / "playbooks")
FACTS: dict[str, Any] = {
    "scenario": "credential_stuffing",
    "rule_name": "Akku - MFA failure spike across accounts",
    "detection": "credential_stuffing",
    "severity": "high",
    "actor_ids": ["u_10001", "u_10002"],
    "emails": ["asha.iyer.10001@example.com", "ravi.nair.10002@example.com"],
    "source_ips": ["203.0.113.10", "203.0.113.11"],
    "window_start": "2026-11-24T09:00:00.000Z",
    "window_end": "2026-11-24T09:30:00.000Z",
}


@dataclass
class Gateway:
    url: str
    settings: Settings
    client: Client

    async def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> httpx.Response:
        content = raw if raw is not None else json.dumps(body).encode()
        async with httpx.AsyncClient() as http:
            return await http.post(
                f"{self.url}{path}", content=content, headers={"Content-Type": "application/json", **(headers or {})}
            )

    async def started(self, workflow_id: str) -> AlertRunInput:
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        attrs = history.events[0].workflow_execution_started_event_attributes
        payload = attrs.input.payloads[0]
        return AlertRunInput.model_validate_json(payload.data)

    async def count(self, workflow_id: str) -> int:
        return len([e async for e in self.client.list_workflows(f"WorkflowId = '{workflow_id}'")])


def settings_for(task_queue: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "temporal_task_queue": task_queue,
        "riposte_webhook_token": TOKEN,
        "riposte_webhook_secret": f"{OLD_SECRET} {SECRET}",
        "temporal_ui_url": "http://ui.example",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
async def gateway(client: Client, task_queue: str) -> AsyncIterator[Gateway]:
    settings = settings_for(task_queue)
    async with running_app(create_app(settings, client=client, playbooks=PLAYBOOKS)) as url:
        yield Gateway(url, settings, client)


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_splunk_alert_starts_one_run_with_the_normalised_alert(gateway: Gateway) -> None:
    body = samples.splunk_payload(FACTS)
    answer = await gateway.post(f"/webhooks/splunk?token={TOKEN}", body)
    assert answer.status_code == 202, answer.text
    run = answer.json()
    assert run["status"] == "started" and run["ui_url"].startswith("http://ui.example/namespaces/default/workflows/")
    started = await gateway.started(run["workflow_id"])
    alert = started.alert
    assert alert.source.value == "splunk" and alert.detection.value == "credential_stuffing"
    assert [(a.kind, a.value) for a in alert.actors] == [(IdentityKind.EMAIL, FACTS["emails"][0])]
    assert alert.source_ips == ["203.0.113.10"] and alert.siem_url and started.playbook.name == "credential-stuffing"
    again = await gateway.post(f"/webhooks/splunk?token={TOKEN}", body)
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert again.json()["run_id"] == run["run_id"]
    assert await gateway.count(run["workflow_id"]) == 1


async def test_splunk_for_each_result_rows_are_separate_alerts(gateway: Gateway) -> None:
    first = samples.splunk_payload(FACTS, row=0, sid="sid-rows")
    second = samples.splunk_payload(FACTS, row=1, sid="sid-rows")
    a = await gateway.post(f"/webhooks/splunk?token={TOKEN}", first)
    b = await gateway.post(f"/webhooks/splunk?token={TOKEN}", second)
    assert a.json()["status"] == b.json()["status"] == "started"
    assert a.json()["workflow_id"] != b.json()["workflow_id"]


async def test_sentinel_common_schema_and_incident(gateway: Gateway) -> None:
    answer = await gateway.post("/webhooks/sentinel", samples.sentinel_payload(FACTS), BEARER)
    assert answer.status_code == 202, answer.text
    alert = (await gateway.started(answer.json()["workflow_id"])).alert
    assert [a.value for a in alert.actors] == FACTS["emails"] and alert.source_ips == FACTS["source_ips"]
    assert alert.severity.value == "high"
    incident = {
        "incident_arm_id": "/subscriptions/x/providers/Microsoft.SecurityInsights/Incidents/6b0e",
        "title": "MFA fatigue followed by successful sign-in",
        "severity": "High",
        "entities": [
            {"kind": "Account", "properties": {"accountName": "jdoe", "upnSuffix": "example.test"}},
            {"kind": "Ip", "properties": {"address": "203.0.113.45"}},
        ],
    }
    answer = await gateway.post("/webhooks/sentinel", incident, BEARER)
    assert answer.status_code == 202, answer.text
    alert = (await gateway.started(answer.json()["workflow_id"])).alert
    assert alert.detection.value == "mfa_fatigue"
    assert [(a.kind, a.value) for a in alert.actors] == [(IdentityKind.UPN, "jdoe@example.test")]


async def test_elastic_context_alerts(gateway: Gateway) -> None:
    facts = {**FACTS, "rule_name": "MFA push flood", "detection": "mfa_fatigue"}
    answer = await gateway.post("/webhooks/elastic", samples.elastic_payload(facts), BEARER)
    assert answer.status_code == 202, answer.text
    alert = (await gateway.started(answer.json()["workflow_id"])).alert
    assert alert.detection.value == "mfa_fatigue"
    assert {(a.kind, a.value) for a in alert.actors} == {(IdentityKind.AKKU_ID, a) for a in FACTS["actor_ids"]}


async def test_generic_signed_with_a_rotated_secret(gateway: Gateway) -> None:
    body = json.dumps(samples.generic_payload(FACTS)).encode()
    for secret in (SECRET, OLD_SECRET):
        headers = sign(secret, f"msg_{secret[-6:]}", int(time.time()), body)
        answer = await gateway.post("/webhooks/generic", None, headers, raw=body)
        assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "duplicate"  # same alert_id: one run


def _signed(body: bytes, *, secret: str = SECRET, at: float | None = None, msg: str = "msg_1") -> dict[str, str]:
    return sign(secret, msg, int(at if at is not None else time.time()), body)


GOOD = json.dumps(samples.generic_payload(FACTS, alert_id="attack-table")).encode()
ATTACKS: list[tuple[str, str, dict[str, str] | Callable[[], dict[str, str]], bytes, int]] = [
    ("no token", "/webhooks/sentinel", {}, GOOD, 401),
    ("wrong token", "/webhooks/sentinel", {"Authorization": "Bearer nope"}, GOOD, 401),
    ("token in the query where a header is required", f"/webhooks/sentinel?token={TOKEN}", {}, GOOD, 401),
    # signed when the test runs, not when the module loads (a long suite would bring "future" into the window)
    ("expired signature timestamp", "/webhooks/generic", lambda: _signed(GOOD, at=time.time() - 600), GOOD, 401),
    ("future signature timestamp", "/webhooks/generic", lambda: _signed(GOOD, at=time.time() + 600), GOOD, 401),
    ("signature over a different body", "/webhooks/generic", _signed(b'{"x": 1}'), GOOD, 401),
    ("signature by an unknown secret", "/webhooks/generic", _signed(GOOD, secret="whsec_b3RoZXI="), GOOD, 401),
    ("wrong content type", "/webhooks/generic", {**BEARER, "Content-Type": "text/plain"}, GOOD, 415),
    ("malformed JSON", "/webhooks/generic", BEARER, b'{"rule_name": ', 400),
    ("deeply nested JSON", "/webhooks/generic", BEARER, b"[" * 100 + b"]" * 100, 400),
    ("oversized body", "/webhooks/generic", BEARER, b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}', 413),
    ("valid JSON, not an alert", "/webhooks/generic", BEARER, b'{"hello": "world"}', 422),
    (
        "Splunk body on the Sentinel endpoint",
        "/webhooks/sentinel",
        BEARER,
        json.dumps(samples.splunk_payload(FACTS)).encode(),
        422,
    ),
]


@pytest.mark.parametrize(("name", "path", "headers", "body", "status"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_every_attack_is_refused_and_starts_nothing(
    gateway: Gateway,
    caplog: pytest.LogCaptureFixture,
    name: str,
    path: str,
    headers: dict[str, str] | Callable[[], dict[str, str]],
    body: bytes,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await gateway.post(path, None, headers() if callable(headers) else headers, raw=body)
    assert answer.status_code == status, (name, answer.text)
    error = answer.json()["error"]
    assert error["code"] and error["message"]
    assert TOKEN not in answer.text and SECRET not in answer.text
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("riposte", "uvicorn", "gateway")))
    assert "refused" in ours
    assert TOKEN not in ours and SECRET.removeprefix("whsec_") not in ours
    assert [
        e async for e in gateway.client.list_workflows(f"TaskQueue = '{gateway.settings.temporal_task_queue}'")
    ] == []


async def test_no_matching_playbook_is_a_clear_422(gateway: Gateway) -> None:
    body = {**samples.generic_payload(FACTS), "rule_name": "Something else entirely", "detection": None}
    answer = await gateway.post("/webhooks/generic", body, BEARER)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "no_matching_playbook"


async def test_temporal_unreachable_is_503_with_retry_after(task_queue: str) -> None:
    settings = settings_for(task_queue, temporal_address=f"127.0.0.1:{free_port()}")
    async with running_app(create_app(settings, playbooks=PLAYBOOKS)) as url, httpx.AsyncClient() as http:
        answer = await http.post(
            f"{url}/webhooks/generic", json=samples.generic_payload(FACTS), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        assert answer.json()["error"]["code"] == "temporal_unavailable"
        assert (await http.get(f"{url}/readyz")).status_code == 503
        assert (await http.get(f"{url}/healthz")).status_code == 200


async def test_a_start_temporal_refuses_for_good_is_a_500_with_a_reason(
    client: Client, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(
        task_queue, temporal_address=client.service_client.config.target_host, temporal_namespace="no-such-namespace"
    )
    async with running_app(create_app(settings, playbooks=PLAYBOOKS)) as url, httpx.AsyncClient() as http:
        answer = await http.post(
            f"{url}/webhooks/generic", json=samples.generic_payload(FACTS), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert answer.status_code == 500 and "Retry-After" not in answer.headers
    assert answer.json()["error"]["code"] == "temporal_refused"
    assert "NOT_FOUND" in answer.json()["error"]["message"]
    assert any(r.levelname == "ERROR" and "Temporal refused" in r.getMessage() for r in caplog.records)


async def test_rate_limit_answers_429(client: Client, task_queue: str) -> None:
    from gateway.config import GatewayConfig, RateLimit, SourceConfig

    config = GatewayConfig(sources={"generic": SourceConfig(rate_limit=RateLimit(per_second=0.1, burst=2))})
    app = create_app(settings_for(task_queue), client=client, playbooks=PLAYBOOKS, config=config)
    async with running_app(app) as url, httpx.AsyncClient() as http:
        codes = [
            (
                await http.post(f"{url}/webhooks/generic", json={"x": i}, headers={"Authorization": f"Bearer {TOKEN}"})
            ).status_code
            for i in range(3)
        ]
    assert codes == [422, 422, 429]


async def test_readyz_and_metrics(gateway: Gateway) -> None:
    await gateway.post("/webhooks/generic", samples.generic_payload(FACTS), BEARER)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{gateway.url}/readyz")).status_code == 200
        metrics = (await http.get(f"{gateway.url}/metrics")).text
    assert 'riposte_webhooks_answered_total{outcome="started",source="generic"} 1.0' in metrics


def test_access_logs_never_show_a_query_token() -> None:
    from gateway.server import RedactQueryTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", f"/webhooks/splunk?token={TOKEN}&x=1", "1.1", 202),
        None,
    )
    RedactQueryTokens().filter(record)
    assert TOKEN not in record.getMessage() and "token=[redacted]&x=1" in record.getMessage()


async def test_an_alert_naming_thousands_fans_out_into_runs_of_1000(gateway: Gateway) -> None:
    facts = {**FACTS, "actor_ids": [f"u_{20000 + i}" for i in range(2500)]}
    body = samples.generic_payload(facts, alert_id="wide-alert")
    answer = await gateway.post("/webhooks/generic", body, BEARER)
    assert answer.status_code == 202, answer.text
    runs = answer.json()["runs"]
    assert [r["status"] for r in runs] == ["started"] * 3
    parts = [(await gateway.started(r["workflow_id"])).alert for r in runs]
    assert [len(p.actors) for p in parts] == [1000, 1000, 500]
    assert parts[0].source_ips == FACTS["source_ips"] and parts[1].source_ips == []
    again = await gateway.post("/webhooks/generic", body, BEARER)
    assert [r["status"] for r in again.json()["runs"]] == ["duplicate"] * 3


async def test_concurrent_duplicate_deliveries_start_exactly_one_run(gateway: Gateway) -> None:
    import asyncio

    body = samples.generic_payload(FACTS, alert_id="concurrent-dup")
    answers = await asyncio.gather(*(gateway.post("/webhooks/generic", body, BEARER) for _ in range(12)))
    assert all(a.status_code == 202 for a in answers)
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses.count("started") == 1 and statuses.count("duplicate") == 11
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert await gateway.count(answers[0].json()["workflow_id"]) == 1


VARIANTS: list[tuple[str, str, dict[str, Any], list[tuple[IdentityKind, str]], list[str]]] = [
    (
        "splunk without results_link, IP or severity",
        "/webhooks/splunk?token=" + TOKEN,
        {
            "sid": "adhoc-1",
            "search_name": "AUTH - Excessive failed logins",
            "app": "search",
            "owner": "a",
            "result": {"user": "a@example.com", "src_ip": ""},
        },
        [(IdentityKind.EMAIL, "a@example.com")],
        [],
    ),
    (
        "sentinel common schema without window or link",
        "/webhooks/sentinel",
        {
            "schemaId": "azureMonitorCommonAlertSchema",
            "data": {
                "essentials": {"alertId": "/x/alerts/1", "alertRule": "Brute force by IP", "severity": "Sev2"},
                "alertContext": {
                    "condition": {"allOf": [{"dimensions": [{"name": "IPAddress", "value": "203.0.113.9"}]}]}
                },
            },
        },
        [],
        ["203.0.113.9"],
    ),
    (
        "sentinel incident with only an aadUserId, mapped",
        "/webhooks/sentinel",
        {
            "incident_arm_id": "/x/Incidents/2",
            "title": "Impossible travel",
            "entities": [{"kind": "Account", "properties": {"aadUserId": "0000-aad-1111"}}],
        },
        [(IdentityKind.AKKU_ID, "u_10007")],
        [],
    ),
    (
        "elastic with flat dotted ECS keys and no source.ip",
        "/webhooks/elastic",
        {
            "context": {
                "rule": {"name": "MFA push flood"},
                "alerts": [{"kibana.alert.uuid": "k-1", "user.name": "b@example.com"}],
            }
        },
        [(IdentityKind.EMAIL, "b@example.com")],
        [],
    ),
    (
        "generic with email and UPN actors and no window",
        "/webhooks/generic",
        {
            "alert_id": "g-1",
            "rule_name": "Dormant account sign-in",
            "actors": [{"email": "c@example.com"}, {"upn": "c@corp.example"}],
        },
        [(IdentityKind.EMAIL, "c@example.com"), (IdentityKind.UPN, "c@corp.example")],
        [],
    ),
]


@pytest.mark.parametrize(("name", "path", "body", "actors", "ips"), VARIANTS, ids=[v[0] for v in VARIANTS])
async def test_payload_variants_normalise(
    client: Client,
    task_queue: str,
    name: str,
    path: str,
    body: dict[str, Any],
    actors: list[tuple[IdentityKind, str]],
    ips: list[str],
) -> None:
    from gateway.config import GatewayConfig, Identity, SourceConfig, load_config

    base = load_config(settings_for(task_queue))
    sentinel = base.source("sentinel").model_copy(
        update={"identity": Identity(kind=IdentityKind.UPN, map={"0000-aad-1111": "u_10007"})}
    )
    config = GatewayConfig(defaults=base.defaults, sources={**base.sources, "sentinel": sentinel})
    assert isinstance(config.source("splunk"), SourceConfig)
    app = create_app(settings_for(task_queue), client=client, playbooks=PLAYBOOKS, config=config)
    async with running_app(app) as url:
        gw = Gateway(url, settings_for(task_queue), client)
        answer = await gw.post(path, body, BEARER)
        assert answer.status_code == 202, (name, answer.text)
        alert = (await gw.started(answer.json()["workflow_id"])).alert
    assert [(a.kind, a.value) for a in alert.actors] == actors
    assert alert.source_ips == ips
