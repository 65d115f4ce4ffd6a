"""Evidence summaries: one actor's Akku events reduced to the compact facts scoring reads.

Pure and deterministic (no I/O): the enrichment activities feed it what they read from
Akku, the scoring in playbooks/scoring.py reads what it returns. Lists are capped
(riposte/models/evidence.py) and counts stay exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from clients.akku.models import FAILURE_TYPES, AuditEvent, AuthEvent
from riposte.models.evidence import (
    GEO_POINTS_CAP,
    IPS_CAP,
    LOCKOUTS_CAP,
    ROLE_CHANGES_CAP,
    TIMESTAMPS_CAP,
    ActorEvidence,
    AdminHistory,
    FailureRisk,
    GeoPoint,
    Lockout,
    RiskContext,
    RoleChange,
    UserRecord,
)

ROLE_ASSIGNED = "role.assigned"
SUCCESS_TYPES = ("login.success", "mfa.success")
RECOVERY_TYPES = ("recovery.attempted",)
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
REPUTATION_ORDER = {"good": 0, "unknown": 1, "suspicious": 2, "malicious": 3}


def failure_risk(risk: RiskContext | None) -> str:
    """IAM signals (docs/rules.md): an unknown device AND (unusual time OR a bad IP OR high risk) is high risk."""
    if risk is None:
        return "medium"
    bad_ip = risk.ip_reputation in ("suspicious", "malicious")
    if risk.device_known is False and (risk.unusual_time or bad_ip or risk.risk_level == "high"):
        return "high"
    if risk.device_known and not risk.unusual_time and risk.ip_reputation == "good":
        return "low"
    return "medium"


def worst_risk(contexts: Iterable[RiskContext]) -> RiskContext | None:
    worst: RiskContext | None = None
    for ctx in contexts:
        if worst is None:
            worst = ctx
            continue
        worst = RiskContext(
            risk_level=max((worst.risk_level, ctx.risk_level), key=lambda v: RISK_ORDER.get(v or "", -1)),
            geo_anomaly=bool(worst.geo_anomaly or ctx.geo_anomaly),
            ip_reputation=max(
                (worst.ip_reputation, ctx.ip_reputation), key=lambda v: REPUTATION_ORDER.get(v or "", -1)
            ),
            unusual_time=bool(worst.unusual_time or ctx.unusual_time),
            device_known=False if (worst.device_known is False or ctx.device_known is False) else worst.device_known,
        )
    return worst


def summarise(
    actor_id: str,
    user: UserRecord | None,
    events: list[AuthEvent],
    since: datetime,
    until: datetime,
    *,
    truncated: bool = False,
    admin: AdminHistory | None = None,
) -> ActorEvidence:
    """One actor's events in the window, reduced to counts and capped lists (counts stay exact)."""
    events = sorted(events, key=lambda e: (e.timestamp, e.event_id))
    by_type = Counter(e.event_type for e in events)
    failures = [e for e in events if e.event_type in FAILURE_TYPES]
    mfa_failures = [e for e in events if e.event_type == "mfa.failure"]
    risk = FailureRisk(**Counter(failure_risk(e.risk_context) for e in failures))
    ips = list(dict.fromkeys(e.source_ip for e in events if e.source_ip))
    countries = list(
        dict.fromkeys(e.geo_location.country_code for e in events if e.geo_location and e.geo_location.country_code)
    )
    located = [
        GeoPoint(
            at=e.timestamp,
            event_type=e.event_type,
            source_ip=e.source_ip,
            country_code=e.geo_location.country_code,
            city=e.geo_location.city,
            latitude=e.geo_location.latitude,
            longitude=e.geo_location.longitude,
        )
        for e in events
        if e.geo_location is not None
        and e.geo_location.latitude is not None
        and e.event_type in ("login.success", "mfa.success", "login.failure", "mfa.failure")
    ]
    pushes = [e.timestamp for e in events if e.event_type == "mfa.challenge_issued" and e.mfa_method == "push"]
    push_ok = [e.timestamp for e in events if e.event_type == "mfa.success" and e.mfa_method == "push"]
    recovery = [e for e in events if e.event_type == "recovery.attempted"]
    return ActorEvidence(
        actor_id=actor_id,
        known=True,
        user=user,
        window_start=since,
        window_end=until,
        events_total=len(events),
        events_truncated=truncated,
        counts_by_type=dict(by_type),
        mfa_failures_by_method=dict(Counter(e.mfa_method for e in mfa_failures if e.mfa_method)),
        mfa_failures_by_reason=dict(Counter(e.failure_reason for e in mfa_failures if e.failure_reason)),
        failure_risk=risk,
        source_ips=ips[:IPS_CAP],
        source_ip_count=len(ips),
        countries=countries,
        geo_points=located[-GEO_POINTS_CAP:],
        push_challenges=pushes[-TIMESTAMPS_CAP:],
        push_successes=push_ok[-TIMESTAMPS_CAP:],
        lockouts=[
            Lockout(at=e.timestamp, failed_attempt_count=e.failed_attempt_count, source_ip=e.source_ip)
            for e in events
            if e.event_type == "account.locked"
        ][-LOCKOUTS_CAP:],
        recovery_by_method=dict(Counter(e.recovery_method for e in recovery if e.recovery_method)),
        recovery_by_outcome=dict(Counter(e.outcome for e in recovery if e.outcome)),
        worst_risk=worst_risk(e.risk_context for e in events if e.risk_context),
        admin=admin,
    )


def admin_history(events: list[AuditEvent], since: datetime, days: int) -> AdminHistory:
    """Log rules (docs/rules.md): an admin's role assignments in the alert window vs their own prior history."""
    assigned = sorted((e for e in events if e.action == ROLE_ASSIGNED and e.role), key=lambda e: e.timestamp)
    recent = [e for e in assigned if e.timestamp >= since]
    before = [e for e in assigned if e.timestamp < since]
    return AdminHistory(
        lookback_days=days,
        recent=[
            RoleChange(
                at=e.timestamp,
                action=e.action,
                actor_id=e.actor_id,
                target_id=e.target_id or "",
                role=e.role or "",
                source_ip=e.source_ip,
            )
            for e in recent
        ][-ROLE_CHANGES_CAP:],
        roles_assigned_before=sorted({e.role for e in before if e.role}),
        targets_before=len({e.target_id for e in before if e.target_id}),
    )


# --- alert-independent context: what the same addresses did to other accounts, prior activity ---


def busiest_ips(events_by_actor: Mapping[str, Iterable[AuthEvent]], types: Iterable[str], cap: int) -> list[str]:
    """The source IPs of these event types across a batch, most events first, at most `cap`."""
    wanted = set(types)
    counts = Counter(
        e.source_ip for events in events_by_actor.values() for e in events if e.event_type in wanted and e.source_ip
    )
    return [ip for ip, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))][:cap]


def accounts_sharing_ips(
    actor_id: str, own: Iterable[AuthEvent], types: Iterable[str], by_ip: Mapping[str, set[str]]
) -> int:
    """the IAM-signal rules' (docs/rules.md) spread: distinct accounts (this one included) with these event types from the
    addresses this account had them from."""
    wanted = set(types)
    ips = {e.source_ip for e in own if e.event_type in wanted and e.source_ip}
    if not ips:
        return 0
    accounts = {actor_id}
    for ip in ips:
        accounts |= by_ip.get(ip, set())
    return len(accounts)


def last_success(events: Iterable[AuthEvent], before: datetime) -> datetime | None:
    """The newest successful sign-in or MFA before `before` (the log rules' (docs/rules.md) "Last Active")."""
    return max((e.timestamp for e in events if e.event_type in SUCCESS_TYPES and e.timestamp < before), default=None)
