"""The evidence summariser, without HTTP: counts exact, lists capped, the IAM-signal rules' (docs/rules.md) risk split."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clients.akku.models import AuditEvent, AuthEvent
from playbooks.evidence import (
    accounts_sharing_ips,
    admin_history,
    busiest_ips,
    failure_risk,
    last_success,
    summarise,
    worst_risk,
)
from riposte.models.evidence import (
    GEO_POINTS_CAP,
    IPS_CAP,
    LOCKOUTS_CAP,
    TIMESTAMPS_CAP,
    RiskContext,
    UserRecord,
)

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
WINDOW = (T0 - timedelta(hours=1), T0 + timedelta(hours=6))
CHENNAI = {"country_code": "IN", "city": "Chennai", "latitude": 13.08, "longitude": 80.27}
FRANKFURT = {"country_code": "DE", "city": "Frankfurt", "latitude": 50.11, "longitude": 8.68}

_ids = iter(range(10**9))


def event(event_type: str, seconds: float = 0, **fields: Any) -> AuthEvent:
    return AuthEvent.model_validate(
        {
            "event_id": f"evt_{next(_ids):08d}",
            "event_type": event_type,
            "timestamp": T0 + timedelta(seconds=seconds),
            "actor_id": "u_48213",
            **fields,
        }
    )


def risk(**fields: Any) -> dict[str, Any]:
    return {"risk_context": fields}


def test_counts_by_type_method_reason_and_recovery_are_exact() -> None:
    events = [
        *(event("mfa.failure", i, mfa_method="TOTP", failure_reason="wrong_code") for i in range(7)),
        *(event("mfa.failure", 10 + i, mfa_method="push", failure_reason="method_unavailable") for i in range(3)),
        event("login.failure", 20),
        event("login.success", 21),
        *(event("recovery.attempted", 30 + i, recovery_method="email_otp", outcome="failure") for i in range(4)),
        event("recovery.attempted", 40, recovery_method="helpdesk", outcome="blocked"),
    ]
    evidence = summarise("u_48213", None, events, *WINDOW)
    assert evidence.events_total == 17
    assert evidence.counts_by_type == {
        "mfa.failure": 10,
        "login.failure": 1,
        "login.success": 1,
        "recovery.attempted": 5,
    }
    assert evidence.mfa_failures_by_method == {"TOTP": 7, "push": 3}
    assert evidence.mfa_failures_by_reason == {"wrong_code": 7, "method_unavailable": 3}
    assert evidence.recovery_by_method == {"email_otp": 4, "helpdesk": 1}
    assert evidence.recovery_by_outcome == {"failure": 4, "blocked": 1}
    assert (evidence.window_start, evidence.window_end) == WINDOW
    assert evidence.known and evidence.user is None and not evidence.events_truncated


def test_failure_risk_splits_failures_as_seed_000_asks() -> None:
    high = [
        risk(device_known=False, unusual_time=True, ip_reputation="good", risk_level="low"),
        risk(device_known=False, unusual_time=False, ip_reputation="malicious", risk_level="low"),
        risk(device_known=False, unusual_time=False, ip_reputation="suspicious", risk_level="medium"),
        risk(device_known=False, unusual_time=False, ip_reputation="good", risk_level="high"),
    ]
    medium = [
        risk(device_known=False, unusual_time=False, ip_reputation="good", risk_level="low"),  # unknown device only
        risk(device_known=True, unusual_time=True, ip_reputation="good", risk_level="medium"),  # known device, odd hour
        risk(device_known=True, unusual_time=False, ip_reputation="malicious", risk_level="high"),
        {},  # no risk_context at all
    ]
    low = [risk(device_known=True, unusual_time=False, ip_reputation="good", risk_level="low")]
    failures = [event("mfa.failure" if i % 2 else "login.failure", i, **r) for i, r in enumerate(high + medium + low)]
    not_failures = [event("login.success", 100, **high[0]), event("recovery.attempted", 101, **high[0])]
    split = summarise("u_48213", None, failures + not_failures, *WINDOW).failure_risk
    assert (split.high, split.medium, split.low) == (len(high), len(medium), len(low))


def test_lists_are_capped_and_counts_stay_exact() -> None:
    n = 600
    events = [
        event(
            "mfa.challenge_issued" if i % 3 == 0 else "login.failure" if i % 3 == 1 else "account.locked",
            i,
            source_ip=f"203.0.{i // 250}.{i % 250}",
            geo_location=CHENNAI,
            mfa_method="push" if i % 3 == 0 else None,
            failed_attempt_count=5 if i % 3 == 2 else None,
        )
        for i in range(n)
    ]
    evidence = summarise("u_48213", None, list(reversed(events)), *WINDOW)
    assert evidence.events_total == n
    assert evidence.source_ip_count == n and len(evidence.source_ips) == IPS_CAP
    assert len(evidence.push_challenges) == TIMESTAMPS_CAP and evidence.counts_by_type["mfa.challenge_issued"] == 200
    assert len(evidence.lockouts) == LOCKOUTS_CAP and evidence.counts_by_type["account.locked"] == 200
    assert len(evidence.geo_points) == GEO_POINTS_CAP
    stamps = [p.at for p in evidence.geo_points]
    assert stamps == sorted(stamps) and stamps[-1] == T0 + timedelta(seconds=n - 2)  # the newest kept
    assert evidence.lockouts[-1].failed_attempt_count == 5
    assert evidence.countries == ["IN"]


def test_travel_points_are_time_ordered_whatever_the_input_order() -> None:
    late = event("login.success", 1200, geo_location=FRANKFURT, source_ip="203.0.113.88")
    early = event("login.success", 0, geo_location=CHENNAI, source_ip="198.51.100.31")
    unlocated = event("login.success", 600, geo_location={"country_code": None, "city": None})
    evidence = summarise("u_48213", None, [late, unlocated, early], *WINDOW)
    assert [p.city for p in evidence.geo_points] == ["Chennai", "Frankfurt"]
    assert evidence.countries == ["IN", "DE"]
    assert evidence.source_ips == ["198.51.100.31", "203.0.113.88"]


def test_push_challenges_and_approvals_are_told_apart() -> None:
    events = [event("mfa.challenge_issued", 12 * i, mfa_method="push") for i in range(9)]
    events += [event("mfa.challenge_issued", 200, mfa_method="TOTP"), event("mfa.success", 201, mfa_method="TOTP")]
    evidence = summarise("u_48213", None, events, *WINDOW)
    assert len(evidence.push_challenges) == 9 and evidence.push_successes == []
    approved = summarise("u_48213", None, [*events, event("mfa.success", 300, mfa_method="push")], *WINDOW)
    assert approved.push_successes == [T0 + timedelta(seconds=300)]


def test_worst_risk_takes_the_worst_of_each_field() -> None:
    contexts = [
        RiskContext(risk_level="low", ip_reputation="good", device_known=True, unusual_time=False, geo_anomaly=False),
        RiskContext(risk_level="high", ip_reputation="suspicious", device_known=True),
        RiskContext(risk_level="medium", ip_reputation="malicious", device_known=False, geo_anomaly=True),
    ]
    worst = worst_risk(contexts)
    assert worst == RiskContext(
        risk_level="high", ip_reputation="malicious", device_known=False, unusual_time=False, geo_anomaly=True
    )
    assert worst_risk([]) is None
    assert failure_risk(None) == "medium"


def test_the_user_record_and_truncation_travel_with_the_evidence() -> None:
    user = UserRecord(actor_id="u_48213", email="a@example.com", roles=["security_admin"], privileged=True)
    evidence = summarise("u_48213", user, [], *WINDOW, truncated=True)
    assert evidence.user == user and evidence.events_truncated and evidence.events_total == 0


def test_admin_history_separates_the_window_from_the_admin_s_past() -> None:
    def audit(days_ago: float, role: str, target: str) -> AuditEvent:
        return AuditEvent(
            event_id=f"aud_{next(_ids)}",
            timestamp=T0 - timedelta(days=days_ago),
            action="role.assigned",
            actor_id="u_admin3",
            target_id=target,
            role=role,
        )

    events = [audit(10, "helpdesk_admin", "u_1"), audit(40, "ivr_admin", "u_2"), audit(41, "ivr_admin", "u_2")]
    events.append(audit(0.01, "global_admin", "u_3"))
    history = admin_history(events, T0 - timedelta(hours=1), 90)
    assert history.lookback_days == 90
    assert [(c.role, c.target_id) for c in history.recent] == [("global_admin", "u_3")]
    assert history.roles_assigned_before == ["helpdesk_admin", "ivr_admin"]
    assert history.targets_before == 2


EVENT_TYPES = ["mfa.failure", "login.failure", "login.success", "mfa.challenge_issued", "account.locked"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(EVENT_TYPES),
            st.integers(0, 3600),
            st.integers(0, 300),
            st.sampled_from([None, "low", "medium", "high"]),
            st.sampled_from([None, True, False]),
        ),
        max_size=400,
    )
)
def test_counts_always_add_up(rows: list[tuple[str, int, int, str | None, bool | None]]) -> None:
    events = [
        event(
            kind,
            at,
            source_ip=f"203.0.113.{host}" if host < 250 else f"198.51.100.{host - 250}",
            **risk(risk_level=level, device_known=known),
        )
        for kind, at, host, level, known in rows
    ]
    evidence = summarise("u_48213", None, events, *WINDOW)
    failures = sum(1 for kind, *_ in rows if kind in ("mfa.failure", "login.failure"))
    split = evidence.failure_risk
    assert evidence.events_total == len(rows) == sum(evidence.counts_by_type.values())
    assert split.high + split.medium + split.low == failures
    assert evidence.source_ip_count == len({e.source_ip for e in events})
    assert len(evidence.source_ips) == min(IPS_CAP, evidence.source_ip_count)
    assert len(evidence.geo_points) == 0


# --- what the same addresses did to other accounts, and prior activity ----------------------


def test_busiest_ips_take_the_batch_s_most_used_addresses_of_the_type_first() -> None:
    events = {
        "u_1": [event("login.failure", i, source_ip="203.0.113.1") for i in range(3)]
        + [event("login.success", 9, source_ip="198.51.100.1")],
        "u_2": [event("mfa.failure", 1, source_ip="203.0.113.2"), event("mfa.failure", 2, source_ip=None)],
    }
    assert busiest_ips(events, ("login.failure", "mfa.failure"), 5) == ["203.0.113.1", "203.0.113.2"]
    assert busiest_ips(events, ("login.failure", "mfa.failure"), 1) == ["203.0.113.1"]


def test_accounts_sharing_ips_counts_distinct_accounts_this_one_included() -> None:
    by_ip = {"203.0.113.1": {f"u_{n}" for n in range(5)}, "203.0.113.2": {"u_9"}}
    mine = [event("mfa.failure", 0, source_ip="203.0.113.1"), event("login.failure", 1, source_ip="203.0.113.2")]
    types = ("mfa.failure", "login.failure")
    assert accounts_sharing_ips("u_48213", mine, types, by_ip) == 7  # u_0..u_4, u_9 and itself
    assert accounts_sharing_ips("u_48213", mine[:1], types, by_ip) == 6
    assert accounts_sharing_ips("u_48213", [event("login.success", 0, source_ip="203.0.113.1")], types, by_ip) == 0


def test_last_success_is_the_newest_success_before_the_window() -> None:
    events = [
        event("login.success", -86400 * 91),
        event("mfa.success", -86400 * 95),
        event("login.failure", -3600),
        event("login.success", 60),  # inside the window: the waking sign-in itself
    ]
    assert last_success(events, T0) == T0 - timedelta(days=91)
    assert last_success(events[2:], T0) is None
