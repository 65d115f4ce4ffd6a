"""What every factor shares: its inputs and the ramps that turn a level into points.

A factor is named in a playbook's `factors:` with its weight (the most points it can give),
the level at which it starts (`threshold`) and the level at which it gives full weight
(`saturate_at`). The seed's numbers live in the playbook files; the defaults here only
apply to a playbook that leaves a parameter out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from riposte.models.evidence import ActorEvidence, AlertContext
from riposte.models.playbook import FactorParams, Guards
from riposte.models.runs import Factor, Finding

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


def param(value: float | None, default: float) -> float:
    return value if value is not None else default


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


def scaled(params: FactorParams, inputs: Inputs, default_threshold: float, default_full: float) -> tuple[float, float]:
    threshold, full = param(params.threshold, default_threshold), param(params.saturate_at, default_full)
    if trusted_only(inputs):
        m = inputs.guards.trusted_threshold_multiplier
        return threshold * m, full * m
    return threshold, full


def trusted_note(inputs: Inputs) -> str:
    return " (all from trusted networks: thresholds raised)" if trusted_only(inputs) else ""


def minutes(evidence: ActorEvidence) -> int:
    return max(1, round((evidence.window_end - evidence.window_start).total_seconds() / 60))


def ramped(
    name: str, params: FactorParams, inputs: Inputs, level: float, defaults: tuple[float, float], detail: str
) -> Factor | None:
    """A factor that grows from `threshold` to full weight at `saturate_at` (raised on trusted networks)."""
    threshold, full = scaled(params, inputs, *defaults)
    points = params.weight * ramp(level, threshold, full)
    return Factor(name=name, points=points, detail=detail) if points > 0 else None
