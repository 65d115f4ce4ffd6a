"""Each scoring factor at its boundary, pure: evidence built by hand, the factor called directly
with its parameters, then the shipped playbook's response at the seed's numbers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from playbooks.decide import evaluate
from playbooks.factors.base import Inputs
from playbooks.factors.behaviour import dormant, haversine_km, impossible_travel, push_flood, role_outside_history
from playbooks.factors.context import risk_context, severity
from playbooks.factors.volume import brute_force_ip, failures, high_risk_failures, recovery_spread, spread
from riposte.models.common import ActionKind, DetectionType, Response, Severity
from riposte.models.evidence import (
    ActorEvidence,
    AdminHistory,
    AlertContext,
    GeoPoint,
    IpStats,
    PriorActivity,
    RoleChange,
    UserRecord,
)
from riposte.models.playbook import FactorParams, Guards
from riposte.models.runs import Assessment, EvaluationInput, Factor
from tests.playbooks.builders import NOW, evidence, finding

OFFICE = "198.51.100.0/24"
VPN = "192.0.2.0/24"
GUARDS = Guards(trusted_cidrs=[OFFICE], trusted_threshold_multiplier=3, vpn_egress_cidrs=[VPN])
BENIGN = {
    "risk_level": "low",
    "geo_anomaly": False,
    "ip_reputation": "good",
    "unusual_time": False,
    "device_known": True,
}


def inputs(e: ActorEvidence, context: AlertContext | None = None, guards: Guards = GUARDS) -> Inputs:
    return Inputs(finding=finding(DetectionType.CREDENTIAL_STUFFING, e, context=context), guards=guards, now=NOW)


def decide(detection: DetectionType, e: ActorEvidence, context: AlertContext | None = None) -> Assessment:
    f = finding(detection, e, context=context, severity=Severity.MEDIUM)
    return evaluate(EvaluationInput(actor_id=e.actor_id, findings=[f], now=NOW))


def points(factor: Factor | None) -> float:
    return 0.0 if factor is None else factor.points


# --- failures, weighed by risk_context (docs/rules.md, IAM signals) ---------------------------------------------


@pytest.mark.parametrize(
    ("buckets", "level"), [({"low": 6}, 3.0), ({"medium": 6}, 6.0), ({"high": 6}, 6.0), ({"low": 4, "high": 2}, 4.0)]
)
def test_low_risk_failures_count_half(buckets: dict[str, int], level: float) -> None:
    e = evidence(counts_by_type={"mfa.failure": 6}, failure_risk=buckets)
    got = failures(FactorParams(weight=10, threshold=0, saturate_at=10), inputs(e))
    assert points(got) == pytest.approx(level)


def test_high_risk_failures_read_the_high_bucket_only() -> None:
    params = FactorParams(weight=30, threshold=0, saturate_at=8)
    assert high_risk_failures(params, inputs(evidence(failure_risk={"medium": 9, "low": 9}))) is None
    assert points(high_risk_failures(params, inputs(evidence(failure_risk={"high": 4})))) == pytest.approx(15)


# --- spread: from the evidence, not from how many people the alert names ----------------------

SPREAD = FactorParams(weight=25, threshold=2, saturate_at=20)


@pytest.mark.parametrize(("accounts", "share"), [(1, 0.0), (2, 0.0), (3, 1 / 18), (11, 0.5), (20, 1.0), (300, 1.0)])
def test_spread_counts_the_accounts_failing_from_the_same_addresses(accounts: int, share: float) -> None:
    alone = AlertContext(actor_count=1)  # one webhook per result row
    got = spread(SPREAD, inputs(evidence(failing_accounts_from_ips=accounts, source_ips=["203.0.113.5"]), alone))
    assert points(got) == pytest.approx(25 * share)
    if got:
        assert f"{accounts} accounts failed from the same addresses" in got.detail


def test_spread_of_a_finding_recorded_before_the_lookup_falls_back_to_the_alert() -> None:
    got = spread(SPREAD, inputs(evidence(), AlertContext(actor_count=20)))
    assert points(got) == 25 and got is not None and "named by the same alert" in got.detail


def test_spread_from_the_office_needs_three_times_the_accounts() -> None:
    e = evidence(failing_accounts_from_ips=20, source_ips=["198.51.100.9"])
    assert points(spread(SPREAD, inputs(e))) == pytest.approx(25 * (20 - 6) / (60 - 6))


@pytest.mark.parametrize(("accounts", "expected"), [(None, 0.0), (2, 0.0), (6, 15.0), (10, 30.0)])
def test_recovery_spread(accounts: int | None, expected: float) -> None:
    params = FactorParams(weight=30, threshold=2, saturate_at=10)
    assert points(recovery_spread(params, inputs(evidence(recovering_accounts_from_ips=accounts)))) == expected


# --- brute force by source IP (docs/rules.md, log rules), the office raised not skipped -----------------------

BRUTE = FactorParams(weight=90, threshold=5, saturate_at=60)


@pytest.mark.parametrize(
    ("ip", "failures_", "users", "expected"),
    [
        ("203.0.113.9", 6, 4, 90 * (0.5 + 0.5 * (24 - 15) / (60 - 15))),
        ("203.0.113.9", 5, 4, 0.0),
        ("203.0.113.9", 6, 3, 0.0),
        ("203.0.113.9", 30, 10, 90.0),
        ("198.51.100.9", 6, 4, 0.0),  # the office: failures > 15 and users > 9
        ("198.51.100.9", 15, 10, 0.0),
        ("198.51.100.9", 16, 9, 0.0),
        ("198.51.100.9", 16, 10, 90 * (0.5 + 0.5 * (160 - 135) / (540 - 135))),
    ],
)
def test_brute_force_by_ip_at_its_thresholds(ip: str, failures_: int, users: int, expected: float) -> None:
    context = AlertContext(actor_count=users, ip_stats=[IpStats(ip=ip, failures=failures_, distinct_actors=users)])
    got = brute_force_ip(BRUTE, inputs(evidence(source_ips=[ip]), context))
    assert points(got) == pytest.approx(expected)
    if got:
        assert f"risk {failures_ * users}" in got.detail
        assert ("raised thresholds" in got.detail) is ip.startswith("198.51.100.")


def test_brute_force_ignores_addresses_the_account_never_used() -> None:
    context = AlertContext(actor_count=9, ip_stats=[IpStats(ip="203.0.113.9", failures=40, distinct_actors=9)])
    assert brute_force_ip(BRUTE, inputs(evidence(source_ips=["203.0.113.10"]), context)) is None


# --- MFA fatigue, travel, dormancy, admin history (docs/rules.md, log rules) -----------------------------------

PUSHES = FactorParams(weight=90, threshold=5, saturate_at=12, window=timedelta(minutes=2))


@pytest.mark.parametrize(("count", "expected"), [(5, 0.0), (6, 90 * (0.5 + 0.5 / 7)), (12, 90.0)])
def test_push_flood_needs_more_than_five_in_two_minutes(count: int, expected: float) -> None:
    times = [NOW - timedelta(seconds=110 - 10 * k) for k in range(count)]
    assert points(push_flood(PUSHES, inputs(evidence(push_challenges=times)))) == pytest.approx(expected)


def _trip(speed_kmh: float, second_ip: str) -> ActorEvidence:
    chennai = GeoPoint(at=NOW, event_type="login.success", city="Chennai", latitude=13.08, longitude=80.27)
    mumbai = GeoPoint(at=NOW, event_type="login.success", city="Mumbai", latitude=19.08, longitude=72.88)
    taken = timedelta(hours=haversine_km(chennai, mumbai) / speed_kmh)
    first = chennai.model_copy(update={"at": NOW - taken, "source_ip": "100.64.7.7"})
    second = mumbai.model_copy(update={"source_ip": second_ip})
    return evidence(geo_points=[first, second], worst_risk=BENIGN)


@pytest.mark.parametrize(
    ("speed", "ip", "fires"),
    [
        (1100, "203.0.113.5", True),
        (1001, "203.0.113.5", True),
        (900, "203.0.113.5", False),
        (1100, "192.0.2.10", False),
    ],
)
def test_impossible_travel_over_1000_kmh_and_never_onto_the_vpn(speed: float, ip: str, fires: bool) -> None:
    params = FactorParams(weight=60, threshold=1000, saturate_at=5000)
    got = impossible_travel(params, inputs(_trip(speed, ip)))
    assert (got is not None) is fires
    if got:
        assert got.points >= 30 and f"= {speed:,.0f} km/h" in got.detail


DORMANT = FactorParams(weight=60, threshold=90, saturate_at=365)


def _woken(**fields: object) -> ActorEvidence:
    wake = GeoPoint(at=NOW - timedelta(minutes=5), event_type="login.success", latitude=13.08, longitude=80.27)
    user = UserRecord(actor_id="u_1", last_active_at=NOW, created_at=NOW - timedelta(days=900))
    return evidence("u_1", user=user, events_total=2, geo_points=[wake], **fields)


@pytest.mark.parametrize(("days", "fires"), [(89, False), (90, False), (91, True), (400, True)])
def test_dormant_reads_the_event_history_not_last_active_at(days: int, fires: bool) -> None:
    prior = PriorActivity(lookback_days=400, last_success_at=NOW - timedelta(minutes=5, days=days))
    got = dormant(DORMANT, inputs(_woken(prior_activity=prior)))
    assert (got is not None) is fires
    if got:
        assert got.points >= 30 and f"after {days} days" in got.detail


def test_no_success_in_the_history_read_is_dormant_for_at_least_that_long() -> None:
    got = dormant(DORMANT, inputs(_woken(prior_activity=PriorActivity(lookback_days=400))))
    assert got is not None and "no success in the 400 days read" in got.detail


def test_a_new_account_signing_in_for_the_first_time_is_not_dormant() -> None:
    e = _woken(prior_activity=PriorActivity(lookback_days=400))
    assert e.user is not None
    young = e.model_copy(update={"user": e.user.model_copy(update={"created_at": NOW - timedelta(days=10)})})
    assert dormant(DORMANT, inputs(young)) is None


def test_without_a_history_read_last_active_at_is_used() -> None:  # findings recorded before the lookup
    e = _woken()
    assert e.user is not None
    old = e.model_copy(update={"user": e.user.model_copy(update={"last_active_at": NOW - timedelta(days=120)})})
    assert dormant(DORMANT, inputs(old)) is not None
    assert dormant(DORMANT, inputs(e)) is None


@pytest.mark.parametrize(("role", "fires"), [("security_admin", True), ("helpdesk_admin", False)])
def test_role_outside_the_admins_own_history(role: str, fires: bool) -> None:
    change = RoleChange(at=NOW, action="role.assigned", actor_id="u_a", target_id="u_t", role=role)
    admin = AdminHistory(recent=[change], roles_assigned_before=["helpdesk_admin"])
    got = role_outside_history(FactorParams(weight=70), inputs(evidence(admin=admin)))
    assert points(got) == (70 if fires else 0)


# --- risk_context: every dimension the seed names moves the score ------------------------------


@pytest.mark.parametrize(
    ("risk", "share", "words"),
    [
        ({"risk_level": "high"}, 0.5, "risk high"),
        ({"risk_level": "medium"}, 0.25, "risk medium"),
        ({"risk_level": "low"}, 0.0, ""),
        ({"ip_reputation": "malicious"}, 0.3, "IP malicious"),
        ({"ip_reputation": "suspicious"}, 0.15, "IP suspicious"),
        ({"ip_reputation": "unknown"}, 0.0, ""),
        ({"ip_reputation": "good"}, 0.0, ""),
        ({"geo_anomaly": True}, 0.1, "far from usual places"),
        ({"unusual_time": True}, 0.1, "unusual hour"),
        ({"device_known": False}, 0.1, "unknown device"),
        ({"device_known": True}, 0.0, ""),
        (BENIGN, 0.0, ""),
        ({"risk_level": "high", "ip_reputation": "malicious", "device_known": False}, 0.9, "unknown device"),
        (
            {
                "risk_level": "high",
                "ip_reputation": "malicious",
                "geo_anomaly": True,
                "unusual_time": True,
                "device_known": False,
            },
            1.0,
            "unusual hour",
        ),
    ],
)
def test_each_risk_context_dimension_gives_its_points(risk: dict[str, object], share: float, words: str) -> None:
    got = risk_context(FactorParams(weight=20), inputs(evidence(worst_risk=risk)))
    assert points(got) == pytest.approx(20 * share)
    if got:
        assert words in got.detail


@pytest.mark.parametrize(
    ("level", "share"),
    [(Severity.LOW, 0.0), (Severity.MEDIUM, 1 / 3), (Severity.HIGH, 2 / 3), (Severity.CRITICAL, 1.0)],
)
def test_severity_points(level: Severity, share: float) -> None:
    f = finding(DetectionType.MFA_FATIGUE, evidence(), severity=level)
    assert points(severity(FactorParams(weight=15), Inputs(f, GUARDS, NOW))) == pytest.approx(15 * share)


# --- the shipped playbooks' response at each seed rule's boundary (medium severity, benign context)


def test_six_pushes_act_five_do_nothing() -> None:
    six = [NOW - timedelta(seconds=100 - 15 * k) for k in range(6)]
    acted = decide(DetectionType.MFA_FATIGUE, evidence(push_challenges=six, worst_risk=BENIGN))
    assert acted.response is Response.ACT and acted.score >= 45
    assert acted.actions == [ActionKind.RESET_MFA, ActionKind.FORCE_PASSWORD_RESET]
    assert decide(DetectionType.MFA_FATIGUE, evidence(push_challenges=six[:5])).response is Response.OBSERVE


@pytest.mark.parametrize(
    ("ip", "failures_", "users", "response"),
    [
        ("203.0.113.9", 6, 4, Response.APPROVE),
        ("203.0.113.9", 5, 4, Response.OBSERVE),
        ("203.0.113.9", 6, 3, Response.OBSERVE),
        ("198.51.100.9", 6, 4, Response.OBSERVE),
        ("198.51.100.9", 16, 10, Response.APPROVE),
    ],
)
def test_brute_force_responses(ip: str, failures_: int, users: int, response: Response) -> None:
    context = AlertContext(actor_count=users, ip_stats=[IpStats(ip=ip, failures=failures_, distinct_actors=users)])
    e = evidence(source_ips=[ip], counts_by_type={"login.failure": 2}, failure_risk={"low": 2}, worst_risk=BENIGN)
    a = decide(DetectionType.BRUTE_FORCE, e, context)
    assert a.response is response, (a.score, a.factors)
    if response is Response.APPROVE:
        assert a.actions == [ActionKind.LOCK]


@pytest.mark.parametrize(
    ("speed", "ip", "response"),
    [
        (1100, "203.0.113.5", Response.APPROVE),
        (900, "203.0.113.5", Response.OBSERVE),
        (1100, "192.0.2.10", Response.OBSERVE),
    ],
)
def test_travel_responses(speed: float, ip: str, response: Response) -> None:
    assert decide(DetectionType.IMPOSSIBLE_TRAVEL, _trip(speed, ip)).response is response


@pytest.mark.parametrize(("days", "response"), [(91, Response.APPROVE), (89, Response.OBSERVE)])
def test_dormant_responses(days: int, response: Response) -> None:
    prior = PriorActivity(lookback_days=400, last_success_at=NOW - timedelta(days=days))
    a = decide(DetectionType.DORMANT_ACCOUNT, _woken(prior_activity=prior))
    assert a.response is response


def test_per_row_stuffing_scores_like_one_alert_naming_everyone() -> None:
    row = evidence(failing_accounts_from_ips=20, counts_by_type={"mfa.failure": 1, "login.failure": 1})
    named = row.model_copy(update={"failing_accounts_from_ips": None})
    one = decide(DetectionType.CREDENTIAL_STUFFING, row, AlertContext(actor_count=1))
    everyone = decide(DetectionType.CREDENTIAL_STUFFING, named, AlertContext(actor_count=20))
    assert one.score == everyone.score and one.response is everyone.response is Response.NOTIFY


@pytest.mark.parametrize(("attempts", "response"), [(1, Response.NOTIFY), (5, Response.APPROVE)])
def test_recovery_storm_across_accounts(attempts: int, response: Response) -> None:
    e = evidence(recovery_by_method={"sms_otp": attempts}, recovering_accounts_from_ips=10, worst_risk=BENIGN)
    a = decide(DetectionType.RECOVERY_STORM, e)
    assert a.response is response, (a.score, a.factors)
