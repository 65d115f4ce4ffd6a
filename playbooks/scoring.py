"""Scoring factors: each reads one actor's evidence and says, in plain words, what it adds.

Pure and deterministic. A factor is named in a playbook's `factors:` with its weight (the
most points it can give), the level at which it starts (`threshold`) and the level at
which it gives full weight (`saturate_at`). Seed rules are kept literally where the seeds
state them (brute force by IP: failures > 5 and distinct users > 3; MFA fatigue: more than
5 pushes in 2 minutes; impossible travel: > 1,000 km/h; dormant: > 90 days).
"""

from __future__ import annotations

import ipaddress
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from riposte.models.common import Severity
from riposte.models.evidence import ActorEvidence, AlertContext, GeoPoint
from riposte.models.playbook import FactorParams, Guards
from riposte.models.runs import Factor, Finding

BRUTE_FORCE_MIN_USERS = 3  # seed 002: distinct users > 3
PUSH_WINDOW = timedelta(minutes=2)  # seed 002: pushes within 2 minutes
FAILURE_TYPES = ("mfa.failure", "login.failure")


@dataclass(frozen=True)
class Inputs:
    finding: Finding
    guards: Guards
    now: datetime

    @property
    def evidence(self) -> ActorEvidence:
        return self.finding.evidence

    @property
    def context(self) -> AlertContext:
        return self.finding.context


FactorFn = Callable[[FactorParams, Inputs], Factor | None]


def ramp(level: float, start: float, full: float) -> float:
    """0 at `start` or below, 1 at `full` or above, linear between."""
    if level <= start:
        return 0.0
    if full <= start:
        return 1.0
    return min(1.0, (level - start) / (full - start))


def gated(weight: float, level: float, threshold: float, full: float) -> float:
    """For rules that fire past a threshold: half the weight on firing, the rest as the level grows."""
    if level <= threshold:
        return 0.0
    return weight * (0.5 + 0.5 * ramp(level, threshold, full))


def in_ranges(ip: str | None, cidrs: Iterable[str]) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(c, strict=False) for c in cidrs)


def trusted_only(inputs: Inputs) -> bool:
    """All of the actor's activity came from trusted networks (the office)."""
    ips = inputs.evidence.source_ips
    return (
        bool(ips)
        and bool(inputs.guards.trusted_cidrs)
        and all(in_ranges(ip, inputs.guards.trusted_cidrs) for ip in ips)
    )


def _scaled(params: FactorParams, inputs: Inputs, default_threshold: float, default_full: float) -> tuple[float, float]:
    threshold = params.threshold if params.threshold is not None else default_threshold
    full = params.saturate_at if params.saturate_at is not None else default_full
    if trusted_only(inputs):
        m = inputs.guards.trusted_threshold_multiplier
        return threshold * m, full * m
    return threshold, full


def _trusted_note(inputs: Inputs) -> str:
    return " (all from trusted networks: thresholds raised)" if trusted_only(inputs) else ""


def _minutes(evidence: ActorEvidence) -> int:
    return max(1, round((evidence.window_end - evidence.window_start).total_seconds() / 60))


def _ramped(
    name: str, params: FactorParams, inputs: Inputs, level: float, defaults: tuple[float, float], detail: str
) -> Factor | None:
    """A factor that grows from `threshold` to full weight at `saturate_at` (raised on trusted networks)."""
    threshold, full = _scaled(params, inputs, *defaults)
    points = params.weight * ramp(level, threshold, full)
    return Factor(name=name, points=points, detail=detail) if points > 0 else None


# --- the factors --------------------------------------------------------------------------


def failures(params: FactorParams, inputs: Inputs) -> Factor | None:
    e = inputs.evidence
    count = sum(e.counts_by_type.get(t, 0) for t in FAILURE_TYPES)
    methods = ", ".join(f"{m} {n}" for m, n in sorted(e.mfa_failures_by_method.items())) or "no MFA"
    detail = f"{count} failed sign-ins and MFA attempts in {_minutes(e)} min ({methods}){_trusted_note(inputs)}"
    return _ramped("failures", params, inputs, count, (3, 15), detail)


def high_risk_failures(params: FactorParams, inputs: Inputs) -> Factor | None:
    risk = inputs.evidence.failure_risk
    total = risk.high + risk.medium + risk.low
    detail = f"{risk.high} of {total} failures from unknown devices with a bad IP, odd hour or high risk"
    return _ramped("high_risk_failures", params, inputs, risk.high, (0, 10), detail)


def spread(params: FactorParams, inputs: Inputs) -> Factor | None:
    count = inputs.context.actor_count
    return _ramped("spread", params, inputs, count, (3, 20), f"one of {count} accounts hit by the same alert")


def brute_force_ip(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Seed 002: per source IP, failures > 5 and distinct users > 3; risk = failures x users."""
    mine = set(inputs.evidence.source_ips)
    threshold = params.threshold if params.threshold is not None else 5
    full = params.saturate_at if params.saturate_at is not None else 100
    worst = None
    for stat in inputs.context.ip_stats:
        if stat.ip not in mine or in_ranges(stat.ip, inputs.guards.trusted_cidrs):
            continue
        if stat.failures > threshold and stat.distinct_actors > BRUTE_FORCE_MIN_USERS:
            risk = stat.failures * stat.distinct_actors
            if worst is None or risk > worst[0]:
                worst = (risk, stat)
    if worst is None:
        return None
    risk, stat = worst
    return Factor(
        name="brute_force_ip",
        points=gated(params.weight, risk, 0, full),
        detail=f"{stat.ip}: {stat.failures} failures across {stat.distinct_actors} users (risk {risk}), {stat.lockouts} lockouts",
    )


def lockouts(params: FactorParams, inputs: Inputs) -> Factor | None:
    locked = inputs.evidence.lockouts
    attempts = max((x.failed_attempt_count or 0 for x in locked), default=0)
    detail = f"locked out {len(locked)}x (up to {attempts} failed attempts)"
    return _ramped("lockouts", params, inputs, len(locked), (0, 3), detail)


def recovery_attempts(params: FactorParams, inputs: Inputs) -> Factor | None:
    e = inputs.evidence
    count = sum(e.recovery_by_method.values())
    methods = ", ".join(f"{m} {n}" for m, n in sorted(e.recovery_by_method.items()))
    outcomes = ", ".join(f"{o} {n}" for o, n in sorted(e.recovery_by_outcome.items()))
    detail = f"{count} account-recovery attempts ({methods}; {outcomes})"
    return _ramped("recovery_attempts", params, inputs, count, (2, 8), detail)


def max_in_window(times: list[datetime], window: timedelta) -> tuple[int, datetime | None]:
    ordered = sorted(times)
    best, best_start, lo = 0, None, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] > window:
            lo += 1
        if hi - lo + 1 > best:
            best, best_start = hi - lo + 1, ordered[lo]
    return best, best_start


def push_flood(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Seed 002: more than 5 push challenges within 2 minutes without a success."""
    e = inputs.evidence
    window = params.window or PUSH_WINDOW
    count, start = max_in_window(e.push_challenges, window)
    threshold = params.threshold if params.threshold is not None else 5
    full = params.saturate_at if params.saturate_at is not None else 12
    if count <= threshold or start is None:
        return None
    approved = any(start <= t <= start + window for t in e.push_successes)
    if approved:
        return None
    minutes = window.total_seconds() / 60
    return Factor(
        name="push_flood",
        points=gated(params.weight, count, threshold, full),
        detail=f"push challenges: {count} in {minutes:g} min, none approved",
    )


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    assert a.latitude is not None and a.longitude is not None and b.latitude is not None and b.longitude is not None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def impossible_travel(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Seed 002: consecutive sign-ins further apart than 1,000 km/h allows; VPN egress excluded."""
    points = [
        p
        for p in sorted(inputs.evidence.geo_points, key=lambda p: p.at)
        if p.latitude is not None
        and p.longitude is not None
        and p.event_type in ("login.success", "mfa.success")
        and not in_ranges(p.source_ip, inputs.guards.vpn_egress_cidrs)
    ]
    threshold = params.threshold if params.threshold is not None else 1000
    full = params.saturate_at if params.saturate_at is not None else 5000
    worst: tuple[float, GeoPoint, GeoPoint, float] | None = None
    for a, b in itertools.pairwise(points):
        distance = haversine_km(a, b)
        if distance < 100:
            continue
        hours = max((b.at - a.at).total_seconds() / 3600, 1 / 60)
        speed = distance / hours
        if worst is None or speed > worst[0]:
            worst = (speed, a, b, distance)
    if worst is None or worst[0] <= threshold:
        return None
    speed, a, b, distance = worst
    minutes = (b.at - a.at).total_seconds() / 60
    return Factor(
        name="impossible_travel",
        points=gated(params.weight, speed, threshold, full),
        detail=f"{a.city or a.country_code} → {b.city or b.country_code}: {distance:,.0f} km in {minutes:.0f} min = {speed:,.0f} km/h",
    )


def dormant(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Seed 002: an account unused for more than 90 days comes back."""
    e = inputs.evidence
    if e.user is None or e.user.last_active_at is None or e.events_total == 0:
        return None
    first = min((p.at for p in e.geo_points), default=e.window_end)
    days = (first - e.user.last_active_at).total_seconds() / 86400
    threshold = params.threshold if params.threshold is not None else 90
    full = params.saturate_at if params.saturate_at is not None else 365
    if days <= threshold:
        return None
    return Factor(
        name="dormant",
        points=gated(params.weight, days, threshold, full),
        detail=f"first activity after {days:.0f} days without any (dormant beyond {threshold:.0f} days)",
    )


def role_outside_history(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Seed 002: a role assignment outside the admin's own last-90-days history."""
    admin = inputs.evidence.admin
    if admin is None:
        return None
    new = [c for c in admin.recent if c.role not in admin.roles_assigned_before]
    if not new:
        return None
    change = new[-1]
    before = ", ".join(admin.roles_assigned_before) or "none"
    target = "themselves" if change.target_id == change.actor_id else change.target_id
    return Factor(
        name="role_outside_history",
        points=params.weight,
        detail=f"assigned {change.role} to {target}; in {admin.lookback_days} days before they assigned only: {before}",
    )


def risk_context(params: FactorParams, inputs: Inputs) -> Factor | None:
    risk = inputs.evidence.worst_risk
    if risk is None:
        return None
    level = {"high": 0.5, "medium": 0.25}.get(risk.risk_level or "", 0.0)
    level += {"malicious": 0.3, "suspicious": 0.15}.get(risk.ip_reputation or "", 0.0)
    level += 0.1 if risk.geo_anomaly else 0.0
    level += 0.1 if risk.unusual_time else 0.0
    if level <= 0:
        return None
    parts = [f"risk {risk.risk_level}"] if risk.risk_level else []
    parts += [f"IP {risk.ip_reputation}"] if risk.ip_reputation else []
    parts += ["far from usual places"] if risk.geo_anomaly else []
    parts += ["unusual hour"] if risk.unusual_time else []
    parts += ["unknown device"] if risk.device_known is False else []
    return Factor(
        name="risk_context", points=params.weight * min(1.0, level), detail="Akku adaptive MFA: " + ", ".join(parts)
    )


def low_and_slow(params: FactorParams, inputs: Inputs) -> Factor | None:
    e = inputs.evidence
    hours = {p.at.replace(minute=0, second=0, microsecond=0) for p in e.geo_points if p.event_type in FAILURE_TYPES}
    detail = f"failures spread over {len(hours)} separate hours from {e.source_ip_count} addresses"
    return _ramped("low_and_slow", params, inputs, len(hours), (3, 8), detail)


def privileged(params: FactorParams, inputs: Inputs) -> Factor | None:
    user = inputs.evidence.user
    if user is None or not user.privileged:
        return None
    roles = ", ".join(user.roles) or "privileged"
    return Factor(name="privileged", points=params.weight, detail=f"privileged account ({roles})")


def severity(params: FactorParams, inputs: Inputs) -> Factor | None:
    level = {Severity.LOW: 0.0, Severity.MEDIUM: 1 / 3, Severity.HIGH: 2 / 3, Severity.CRITICAL: 1.0}
    value = level[inputs.finding.alert.severity]
    if value <= 0:
        return None
    return Factor(
        name="severity", points=params.weight * value, detail=f"SIEM severity {inputs.finding.alert.severity.value}"
    )


FACTORS: dict[str, FactorFn] = {
    f.__name__: f
    for f in (
        failures,
        high_risk_failures,
        spread,
        brute_force_ip,
        lockouts,
        recovery_attempts,
        push_flood,
        impossible_travel,
        dormant,
        role_outside_history,
        risk_context,
        low_and_slow,
        privileged,
        severity,
    )
}


def score_finding(finding: Finding, now: datetime) -> tuple[float, list[Factor]]:
    """One finding under its playbook: the factors that fired and their sum (at most 100)."""
    playbook = finding.playbook.playbook
    inputs = Inputs(finding=finding, guards=playbook.guards, now=now)
    factors = [f for name, params in playbook.factors.items() if (f := FACTORS[name](params, inputs)) is not None]
    factors = [f.model_copy(update={"points": round(f.points, 1)}) for f in factors if f.points > 0]
    return min(100.0, sum(f.points for f in factors)), factors
