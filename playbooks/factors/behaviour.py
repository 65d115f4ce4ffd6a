"""Behaviour factors: one account against its own past (the log rules' (docs/rules.md) MFA fatigue, impossible
travel, dormant accounts, and an admin's role assignments)."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta

from playbooks.factors.base import Inputs, gated, in_ranges, param
from riposte.models.evidence import GeoPoint
from riposte.models.playbook import FactorParams
from riposte.models.runs import Factor

PUSH_WINDOW = timedelta(minutes=2)  # log rules (docs/rules.md): pushes within 2 minutes (the playbook's `window` wins)
SIGN_INS = ("login.success", "mfa.success")
SAME_PLACE_KM = 100  # closer than this is the same place, however quick


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
    """Log rules (docs/rules.md): more than `threshold` push challenges within `window` without a success."""
    e = inputs.evidence
    window = params.window or PUSH_WINDOW
    count, start = max_in_window(e.push_challenges, window)
    threshold, full = param(params.threshold, 5), param(params.saturate_at, 12)
    if count <= threshold or start is None:
        return None
    if any(start <= t <= start + window for t in e.push_successes):
        return None
    return Factor(
        name="push_flood",
        points=gated(params.weight, count, threshold, full),
        detail=f"push challenges: {count} in {window.total_seconds() / 60:g} min, none approved",
    )


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    assert a.latitude is not None and a.longitude is not None and b.latitude is not None and b.longitude is not None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def impossible_travel(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Log rules (docs/rules.md): consecutive sign-ins further apart than `threshold` km/h allows; VPN egress excluded."""
    points = [
        p
        for p in sorted(inputs.evidence.geo_points, key=lambda p: p.at)
        if p.latitude is not None
        and p.longitude is not None
        and p.event_type in SIGN_INS
        and not in_ranges(p.source_ip, inputs.guards.vpn_egress_cidrs)
    ]
    threshold, full = param(params.threshold, 1000), param(params.saturate_at, 5000)
    worst: tuple[float, GeoPoint, GeoPoint, float] | None = None
    for a, b in itertools.pairwise(points):
        distance = haversine_km(a, b)
        if distance < SAME_PLACE_KM:
            continue
        hours = max((b.at - a.at).total_seconds() / 3600, 1 / 60)
        speed = distance / hours
        if worst is None or speed > worst[0]:
            worst = (speed, a, b, distance)
    if worst is None or worst[0] <= threshold:
        return None
    speed, a, b, distance = worst
    taken = (b.at - a.at).total_seconds() / 60
    return Factor(
        name="impossible_travel",
        points=gated(params.weight, speed, threshold, full),
        detail=f"{a.city or a.country_code} → {b.city or b.country_code}: {distance:,.0f} km in {taken:.0f} min = {speed:,.0f} km/h",
    )


def dormant(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Log rules (docs/rules.md): an account unused for more than `threshold` days comes back. "Last active" is the
    last success in Akku's event history before the alert's window (the user record's
    last_active_at may already show the waking sign-in); with nothing in the history read, the
    later of its start and the account's creation."""
    e = inputs.evidence
    if e.events_total == 0:
        return None
    prior = e.prior_activity
    if prior is not None:
        last = prior.last_success_at
        where = "last success in Akku's events"
        if last is None:
            last = e.window_start - timedelta(days=prior.lookback_days)
            where = f"no success in the {prior.lookback_days} days read"
            if e.user is not None and e.user.created_at is not None and e.user.created_at > last:
                last, where = e.user.created_at, "no success since the account was created"
    elif e.user is not None and e.user.last_active_at is not None:  # a finding recorded before the history was read
        last, where = e.user.last_active_at, "Akku's last_active_at"
    else:
        return None
    first = min((p.at for p in e.geo_points), default=e.window_end)
    days = (first - last).total_seconds() / 86400
    threshold, full = param(params.threshold, 90), param(params.saturate_at, 365)
    if days <= threshold:
        return None
    return Factor(
        name="dormant",
        points=gated(params.weight, days, threshold, full),
        detail=f"first activity after {days:.0f} days without any ({where}: {last:%Y-%m-%d}; dormant beyond {threshold:g} days)",
    )


def role_outside_history(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Log rules (docs/rules.md): a role assignment outside the admin's own last-90-days history."""
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
