"""Every seed scenario, from the Akku simulator's events to the playbook's decision.

Real HTTP to the simulator, the real evidence summariser (with the lookups each playbook asks
for), the shipped playbooks and the pure decision logic: what the engine will decide for each
attack and each false positive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.akku import gather_evidence, lookups_for
from clients.akku.client import AkkuClient
from playbooks.decide import evaluate
from playbooks.loader import PlaybookSet
from riposte.models.alert import Alert, AlertRef, Source
from riposte.models.common import ActionKind, DetectionType, Response, Severity
from riposte.models.enrichment import EvidenceRequest
from riposte.models.evidence import AlertContext, IpStats
from riposte.models.runs import Assessment, EvaluationInput, Finding
from simulators.akku.server import SimulatorConfig, create_app
from tests.support.servers import running_app

PLAYBOOKS = PlaybookSet.load(Path(__file__).resolve().parents[2] / "playbooks")


@pytest.fixture(scope="module")
async def akku() -> AsyncIterator[str]:
    async with running_app(create_app(SimulatorConfig(api_key="k", seed=11))) as url:
        yield url


async def decide(url: str, scenario: str) -> tuple[dict[str, Any], list[Assessment]]:
    async with httpx.AsyncClient() as http:
        facts = (await http.post(f"{url}/_sim/scenarios/{scenario}")).json()
    now = datetime.now(UTC)
    alert = Alert(
        source=Source.GENERIC,
        dedup_key=scenario,
        rule_name=facts["rule_name"],
        detection=DetectionType(facts["detection"]),
        severity=Severity(facts["severity"]),
        received_at=now,
    )
    snapshot = PLAYBOOKS.match(alert)
    assert snapshot is not None
    since = now - snapshot.playbook.lookback
    async with AkkuClient(f"{url}/api", "k") as client:
        admin_days = 90 if alert.detection is DetectionType.ADMIN_ELEVATION else None
        batch = await gather_evidence(
            client,
            EvidenceRequest(actor_ids=facts["actor_ids"], since=since, until=now, admin_history_days=admin_days),
            lookups_for(snapshot.playbook),
        )
        stats: list[IpStats] = []
        if alert.detection is DetectionType.BRUTE_FORCE:
            from activities.akku import AkkuActivities
            from riposte.models.enrichment import IpActivityRequest

            stats = (
                await AkkuActivities(client).ip_activity(
                    IpActivityRequest(ips=facts["source_ips"], since=since, until=now)
                )
            ).stats
    ref = AlertRef(**alert.model_dump(include=set(AlertRef.model_fields)))
    context = AlertContext(actor_count=len(facts["actor_ids"]), ip_stats=stats)
    assessments = [
        evaluate(
            EvaluationInput(
                actor_id=e.actor_id,
                findings=[Finding(finding_id="a", alert=ref, playbook=snapshot, evidence=e, context=context)],
                now=now,
            )
        )
        for e in batch.evidence
    ]
    return facts, assessments


@pytest.mark.parametrize(
    ("scenario", "response", "actions"),
    [
        ("credential_stuffing", Response.ACT, {ActionKind.LOCK, ActionKind.REVOKE_SESSIONS}),
        ("brute_force", Response.ACT, {ActionKind.LOCK, ActionKind.REVOKE_SESSIONS}),
        ("mfa_fatigue", Response.ACT, {ActionKind.RESET_MFA, ActionKind.FORCE_PASSWORD_RESET}),
        ("impossible_travel", Response.APPROVE, {ActionKind.REVOKE_SESSIONS, ActionKind.FORCE_PASSWORD_RESET}),
        ("recovery_storm", Response.APPROVE, {ActionKind.FORCE_PASSWORD_RESET, ActionKind.REVOKE_SESSIONS}),
        ("dormant_account", Response.APPROVE, {ActionKind.LOCK, ActionKind.REVOKE_SESSIONS}),
        ("admin_elevation", Response.APPROVE, {ActionKind.REVOKE_ROLE}),
        ("low_and_slow", Response.APPROVE, {ActionKind.FORCE_PASSWORD_RESET}),
    ],
)
async def test_each_attack_gets_its_response(
    akku: str, scenario: str, response: Response, actions: set[ActionKind]
) -> None:
    facts, assessments = await decide(akku, scenario)
    assert len(assessments) == len(facts["actor_ids"])
    for a in assessments:
        assert a.response is response, (scenario, a.score, [f.detail for f in a.factors], a.guard_notes)
        assert set(a.actions) == actions
        assert a.factors and all(f.detail for f in a.factors)


@pytest.mark.parametrize("scenario", ["office_login_burst", "vpn_switch"])
async def test_false_positives_end_without_an_action(akku: str, scenario: str) -> None:
    _, assessments = await decide(akku, scenario)
    assert assessments
    for a in assessments:
        assert a.response in (Response.OBSERVE, Response.NOTIFY), (scenario, a.score, [f.detail for f in a.factors])
        assert not a.actions


async def test_admin_elevation_names_the_role_and_its_target(akku: str) -> None:
    facts, (assessment,) = await decide(akku, "admin_elevation")
    assert assessment.role == "global_admin"
    assert assessment.role_target == facts["target_id"]
    assert assessment.protected  # an admin: never automatic
    assert {o.id for o in assessment.options} >= {"revoke_role", "dismiss"}


async def test_the_travel_factor_states_the_speed(akku: str) -> None:
    _, (assessment,) = await decide(akku, "impossible_travel")
    travel = next(f for f in assessment.factors if f.name == "impossible_travel")
    assert "Chennai → Frankfurt" in travel.detail and "km/h" in travel.detail
    assert timedelta(0) < timedelta(minutes=1)
