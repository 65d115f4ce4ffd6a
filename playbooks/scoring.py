"""Scoring: each factor reads one actor's evidence and says, in plain words, what it adds.

Pure and deterministic. The factors live in playbooks/factors/ (volume, behaviour, context);
a playbook names them in `factors:` with their weight, threshold and saturation, and the
seed rules' numbers live there (brute force by IP: failures > 5 and distinct users > 3; MFA
fatigue: more than 5 pushes in 2 minutes; impossible travel: > 1,000 km/h; dormant: > 90 days).
"""

from __future__ import annotations

from datetime import datetime

from playbooks.factors.base import FactorFn, Inputs, gated, in_ranges, ramp
from playbooks.factors.behaviour import (
    dormant,
    haversine_km,
    impossible_travel,
    max_in_window,
    push_flood,
    role_outside_history,
)
from playbooks.factors.context import privileged, risk_context, severity
from playbooks.factors.volume import (
    brute_force_ip,
    failures,
    high_risk_failures,
    lockouts,
    low_and_slow,
    recovery_attempts,
    recovery_spread,
    spread,
)
from riposte.models.runs import Factor, Finding

__all__ = ["FACTORS", "Inputs", "gated", "haversine_km", "in_ranges", "max_in_window", "ramp", "score_finding"]

FACTORS: dict[str, FactorFn] = {
    f.__name__: f
    for f in (
        failures,
        high_risk_failures,
        spread,
        brute_force_ip,
        lockouts,
        recovery_attempts,
        recovery_spread,
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
