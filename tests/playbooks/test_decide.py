"""The pure decision logic: seed rules at their thresholds, guards, and score properties."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks.decide import combine, evaluate, offer, response_rank
from playbooks.loader import PlaybookError, PlaybookSet, load_playbook
from riposte.models.alert import Source
from riposte.models.common import ActionKind, DetectionType, Response
from riposte.models.evidence import ActorEvidence, AlertContext, GeoPoint, IpStats, UserRecord
from riposte.models.playbook import Band, Playbook
from riposte.models.runs import Assessment, EvaluationInput, Finding
from tests.playbooks.builders import NOW, PLAYBOOKS, evidence, finding


def run(*findings: Finding, actor: str = "u_1") -> Assessment:
    return evaluate(EvaluationInput(actor_id=actor, findings=list(findings), now=NOW))


# --- seed rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(("failures", "users", "fires"), [(6, 4, True), (5, 4, False), (6, 3, False), (30, 10, True)])
def test_brute_force_by_ip_is_the_seed_rule(failures: int, users: int, fires: bool) -> None:
    e = evidence(source_ips=["203.0.113.9"], source_ip_count=1)
    ctx = AlertContext(
        actor_count=users, ip_stats=[IpStats(ip="203.0.113.9", failures=failures, distinct_actors=users)]
    )
    a = run(finding(DetectionType.BRUTE_FORCE, e, context=ctx))
    factor = next((f for f in a.factors if f.name == "brute_force_ip"), None)
    assert (factor is not None) is fires
    if factor:
        assert f"risk {failures * users}" in factor.detail


@pytest.mark.parametrize(("pushes", "fires"), [(5, False), (6, True), (12, True)])
def test_mfa_fatigue_needs_more_than_five_pushes_in_two_minutes(pushes: int, fires: bool) -> None:
    times = [NOW - timedelta(seconds=100 - 10 * i) for i in range(pushes)]
    a = run(finding(DetectionType.MFA_FATIGUE, evidence(push_challenges=times)))
    assert any(f.name == "push_flood" for f in a.factors) is fires


def test_a_push_approved_in_the_window_is_not_fatigue() -> None:
    times = [NOW - timedelta(seconds=100 - 10 * i) for i in range(8)]
    a = run(finding(DetectionType.MFA_FATIGUE, evidence(push_challenges=times, push_successes=[times[-1]])))
    assert not any(f.name == "push_flood" for f in a.factors)


def test_pushes_spread_over_ten_minutes_are_not_a_flood() -> None:
    times = [NOW - timedelta(minutes=2 * i) for i in range(8)]
    a = run(finding(DetectionType.MFA_FATIGUE, evidence(push_challenges=times)))
    assert not any(f.name == "push_flood" for f in a.factors)


def _travel(second_ip: str) -> ActorEvidence:
    return evidence(
        geo_points=[
            GeoPoint(
                at=NOW - timedelta(minutes=25),
                event_type="login.success",
                source_ip="198.51.100.3",
                city="Chennai",
                latitude=13.08,
                longitude=80.27,
            ),
            GeoPoint(
                at=NOW - timedelta(minutes=5),
                event_type="login.success",
                source_ip=second_ip,
                city="Frankfurt",
                latitude=50.11,
                longitude=8.68,
            ),
        ]
    )


def test_impossible_travel_over_1000_kmh() -> None:
    a = run(finding(DetectionType.IMPOSSIBLE_TRAVEL, _travel("203.0.113.5")))
    travel = next(f for f in a.factors if f.name == "impossible_travel")
    assert "km/h" in travel.detail


def test_vpn_egress_is_not_travel() -> None:
    a = run(finding(DetectionType.IMPOSSIBLE_TRAVEL, _travel("192.0.2.10")))
    assert not any(f.name == "impossible_travel" for f in a.factors)
    assert a.response in (Response.OBSERVE, Response.NOTIFY)


@pytest.mark.parametrize(("days", "fires"), [(89, False), (91, True), (400, True)])
def test_dormant_beyond_90_days(days: int, fires: bool) -> None:
    user = UserRecord(actor_id="u_1", last_active_at=NOW - timedelta(days=days))
    e = evidence(
        user=user,
        events_total=3,
        geo_points=[GeoPoint(at=NOW - timedelta(minutes=5), event_type="login.success", latitude=1, longitude=1)],
    )
    a = run(finding(DetectionType.DORMANT_ACCOUNT, e))
    assert any(f.name == "dormant" for f in a.factors) is fires
    if fires:
        assert a.response is Response.APPROVE  # manual verification, never automatic


# --- guards -------------------------------------------------------------------------------

FATIGUE = [NOW - timedelta(seconds=100 - 10 * i) for i in range(10)]


def test_the_break_glass_account_is_never_acted_on_automatically() -> None:
    a = run(finding(DetectionType.MFA_FATIGUE, evidence("u_breakglass", push_challenges=FATIGUE)), actor="u_breakglass")
    assert a.response is Response.APPROVE and a.protected
    assert any("break-glass" in n for n in a.guard_notes)


def test_privileged_users_are_escalated_not_acted_on() -> None:
    user = UserRecord(actor_id="u_1", roles=["security_admin"], privileged=True)
    a = run(finding(DetectionType.MFA_FATIGUE, evidence(user=user, push_challenges=FATIGUE)))
    assert a.response is Response.APPROVE


def test_an_ordinary_user_under_mfa_fatigue_is_acted_on() -> None:
    a = run(finding(DetectionType.MFA_FATIGUE, evidence(push_challenges=FATIGUE)))
    assert a.response is Response.ACT
    assert a.actions == [ActionKind.RESET_MFA, ActionKind.FORCE_PASSWORD_RESET]


def test_an_already_locked_account_is_not_locked_again() -> None:
    user = UserRecord(actor_id="u_1", status="locked")
    e = evidence(user=user, counts_by_type={"mfa.failure": 12}, failure_risk={"high": 12})
    a = run(finding(DetectionType.CREDENTIAL_STUFFING, e, context=AlertContext(actor_count=30)))
    assert ActionKind.LOCK not in a.actions
    assert any("already locked" in n for n in a.guard_notes)


def test_office_failures_need_three_times_the_evidence() -> None:
    counts = {"mfa.failure": 6, "login.failure": 6}
    office = run(
        finding(DetectionType.CREDENTIAL_STUFFING, evidence(counts_by_type=counts, source_ips=["198.51.100.7"]))
    )
    outside = run(
        finding(DetectionType.CREDENTIAL_STUFFING, evidence(counts_by_type=counts, source_ips=["203.0.113.7"]))
    )
    assert office.score < outside.score


def test_an_unknown_actor_is_observed_not_acted_on() -> None:
    a = run(finding(DetectionType.MFA_FATIGUE, evidence(known=False, user=None, push_challenges=FATIGUE)))
    assert a.response is Response.OBSERVE and a.score == 0


def test_admin_elevation_is_never_automatic_even_at_100() -> None:
    from riposte.models.evidence import AdminHistory, RoleChange

    admin = AdminHistory(
        recent=[RoleChange(at=NOW, action="role.assigned", actor_id="u_1", target_id="u_1", role="global_admin")],
        roles_assigned_before=["helpdesk_admin"],
    )
    e = evidence(
        admin=admin,
        worst_risk={"risk_level": "high", "ip_reputation": "malicious", "geo_anomaly": True, "unusual_time": True},
    )
    a = run(finding(DetectionType.ADMIN_ELEVATION, e))
    assert a.response is Response.APPROVE
    assert a.role == "global_admin" and a.role_target == "u_1"
    assert "themselves" in next(f.detail for f in a.factors if f.name == "role_outside_history")


# --- properties ---------------------------------------------------------------------------


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=6), st.floats(min_value=0, max_value=100))
def test_another_finding_never_lowers_the_combined_score(scores: list[float], extra: float) -> None:
    assert 0 <= combine(scores) <= 100
    assert combine([*scores, extra]) >= combine(scores) - 1e-9


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=400))
def test_score_is_bounded_and_monotone_in_failures(fewer: int, more: int) -> None:
    fewer, more = sorted((fewer, more))
    low = run(finding(DetectionType.CREDENTIAL_STUFFING, evidence(counts_by_type={"mfa.failure": fewer})))
    high = run(finding(DetectionType.CREDENTIAL_STUFFING, evidence(counts_by_type={"mfa.failure": more})))
    assert 0 <= low.score <= high.score <= 100


def test_a_second_detection_raises_the_score_and_is_deterministic() -> None:
    fatigue = finding(DetectionType.MFA_FATIGUE, evidence(push_challenges=FATIGUE[:7]), finding_id="a")
    travel = finding(DetectionType.IMPOSSIBLE_TRAVEL, _travel("203.0.113.5"), finding_id="b")
    one, both = run(fatigue), run(fatigue, travel)
    assert both.score > one.score
    assert set(both.detections) == {DetectionType.MFA_FATIGUE, DetectionType.IMPOSSIBLE_TRAVEL}
    assert run(fatigue, travel) == both


def test_response_rank_orders_responses() -> None:
    ranks = [response_rank(r) for r in (Response.OBSERVE, Response.NOTIFY, Response.APPROVE, Response.ACT)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


# --- loading ------------------------------------------------------------------------------


def test_every_shipped_playbook_loads_and_each_detection_has_one() -> None:
    covered = {d for p in PLAYBOOKS.playbooks for d in p.playbook.match.detections}
    assert covered == set(DetectionType) - {DetectionType.UNKNOWN}


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (
            "name: bad\nmatch:\n  detections: [brute_force]\nfactors: {}\nbands:\n  - {min_score: 0, respone: observe}\n",
            6,
            "bands.0.respone",
        ),
        (
            "name: bad\nmatch:\n  detections: [brute_force]\nlookback: soon\nfactors: {}\nbands:\n  - {min_score: 0, response: observe}\n",
            4,
            "lookback",
        ),
        (
            "name: bad\nmatch:\n  detections: [brute_force]\nfactors:\n  flux: {weight: 3}\nbands:\n  - {min_score: 0, response: observe}\n",
            5,
            "factors.flux",
        ),
        (
            "name: bad\nmatch:\n  detections: [brute_force]\nfactors: {}\nbands:\n  - {min_score: 0, response: observe}\n  - {min_score: 50, response: notify}\n",
            None,
            "bands",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int | None, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert caught.value.file == "bad.yaml"
    assert caught.value.field.startswith(field)
    if line is not None:
        assert caught.value.line == line


def test_matching_prefers_the_more_specific_playbook(tmp_path: Path) -> None:
    general = (Path(__file__).resolve().parents[2] / "playbooks" / "brute-force.yaml").read_text()
    (tmp_path / "brute-force.yaml").write_text(general)
    specific = general.replace("name: brute-force", "name: vpn-brute-force").replace(
        "  detections: [brute_force]", "  detections: [brute_force]\n  rule_names: ['(?i)vpn']"
    )
    (tmp_path / "vpn-brute-force.yaml").write_text(specific)
    found = PlaybookSet.load(tmp_path)
    from riposte.models.alert import Alert

    alert = Alert(
        source=Source.SPLUNK,
        dedup_key="d",
        rule_name="VPN brute force",
        detection=DetectionType.BRUTE_FORCE,
        received_at=NOW,
    )
    assert (m := found.match(alert)) is not None and m.name == "vpn-brute-force"
    other = alert.model_copy(update={"rule_name": "Password spray"})
    assert (m := found.match(other)) is not None and m.name == "brute-force"


def test_protected_ids_compare_case_insensitively_and_the_deployment_list_adds_to_the_playbooks() -> None:
    from playbooks.decide import protection
    from riposte.models.playbook import Guards

    guards = Guards(protected_actor_ids=["U_BreakGlass"])
    assert protection("u_breakglass", None, guards) is not None
    assert protection("u_10001", None, guards) is None
    assert protection("u_10001", None, guards, ["U_10001"]) is not None


# --- what a notify band offers --------------------------------------------------------------


def _band(name: str, response: Response) -> tuple[Playbook, Band]:
    snapshot = PLAYBOOKS.get(name)
    assert snapshot is not None
    return snapshot.playbook, next(b for b in snapshot.playbook.bands if b.response is response)


def test_a_notify_band_offers_the_band_above_it_and_a_dismiss() -> None:
    rules, notify = _band("credential-stuffing", Response.NOTIFY)
    assert [(o.id, o.label, o.actions) for o in offer(rules, notify, None, None)] == [
        ("approve", "Lock and revoke sessions", [ActionKind.LOCK, ActionKind.REVOKE_SESSIONS]),
        ("dismiss", "Dismiss as benign", []),
    ]
    rules, notify = _band("admin-elevation", Response.NOTIFY)  # the band above lists its own options
    assert [o.id for o in offer(rules, notify, None, "global_admin")] == ["revoke_role", "revoke_and_lock", "dismiss"]
    assert offer(rules, notify, None, None) == []  # no role known to revoke: nothing to offer


def test_nothing_is_offered_that_is_done_already_or_by_a_band_that_does_not_notify() -> None:
    rules, notify = _band("brute-force", Response.NOTIFY)  # the band above only locks
    locked = UserRecord(actor_id="u_1", status="locked")
    assert offer(rules, notify, locked, None) == []
    for response in (Response.ACT, Response.APPROVE, Response.OBSERVE):
        assert offer(rules, _band("brute-force", response)[1], None, None) == []


def test_only_a_notify_response_carries_an_offer() -> None:
    pushes = [NOW - timedelta(seconds=100 - 10 * i) for i in range(8)]
    acted = run(finding(DetectionType.MFA_FATIGUE, evidence(push_challenges=pushes)))
    assert acted.response is Response.ACT and acted.offer == []
    base = finding(DetectionType.MFA_FATIGUE, evidence(push_challenges=pushes))
    bands = [
        Band(min_score=100, response=Response.APPROVE, actions=[ActionKind.RESET_MFA]),
        Band(min_score=0, response=Response.NOTIFY),
    ]
    rules = base.playbook.playbook.model_copy(update={"bands": bands})
    told = run(base.model_copy(update={"playbook": base.playbook.model_copy(update={"playbook": rules})}))
    assert told.response is Response.NOTIFY and told.actions == [] and told.options == []
    assert [o.label for o in told.offer] == ["Reset MFA", "Dismiss as benign"]
