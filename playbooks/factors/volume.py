"""Volume factors: how many failures, lockouts and recovery attempts, on how many accounts,
from which addresses (the IAM-signal rules' (docs/rules.md) spikes across distinct identifiers, the log rules' (docs/rules.md) brute force)."""

from __future__ import annotations

from playbooks.factors.base import (
    FAILURE_TYPES,
    Inputs,
    gated,
    in_ranges,
    minutes,
    param,
    ramped,
    trusted_note,
)
from riposte.models.playbook import FactorParams
from riposte.models.runs import Factor

BRUTE_FORCE_MIN_USERS = 3  # log rules (docs/rules.md): users > 3 (raised on trusted networks)
LOW_RISK_SHARE = 0.5  # IAM signals (docs/rules.md): a known device, normal hour, good IP weighs less


def failures(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Failed sign-ins and MFA attempts, weighted by Akku's risk_context (docs/rules.md, IAM signals): low-risk
    failures count half, medium and high ones in full (high ones add `high_risk_failures`)."""
    e = inputs.evidence
    count = sum(e.counts_by_type.get(t, 0) for t in FAILURE_TYPES)
    low = min(e.failure_risk.low, count)
    level = count - LOW_RISK_SHARE * low
    methods = ", ".join(f"{m} {n}" for m, n in sorted(e.mfa_failures_by_method.items())) or "no MFA"
    weighed = f"; {low} low-risk counted half" if low else ""
    detail = f"{count} failed sign-ins and MFA attempts in {minutes(e)} min ({methods}{weighed}){trusted_note(inputs)}"
    return ramped("failures", params, inputs, level, (3, 15), detail)


def high_risk_failures(params: FactorParams, inputs: Inputs) -> Factor | None:
    risk = inputs.evidence.failure_risk
    total = risk.high + risk.medium + risk.low
    detail = f"{risk.high} of {total} failures from unknown devices with a bad IP, odd hour or high risk"
    return ramped("high_risk_failures", params, inputs, risk.high, (0, 10), detail)


def spread(params: FactorParams, inputs: Inputs) -> Factor | None:
    """the IAM-signal rules' (docs/rules.md) stuffing signature: how many distinct accounts failed from the addresses this
    account failed from, across Akku in the window. One alert per person or one for all: the same."""
    e = inputs.evidence
    if e.failing_accounts_from_ips is None:  # a finding recorded before Akku was asked
        count = inputs.context.actor_count
        detail = f"one of {count} accounts named by the same alert"
    else:
        count = e.failing_accounts_from_ips
        detail = f"{count} accounts failed from the same addresses in {minutes(e)} min"
    return ramped("spread", params, inputs, count, (3, 20), detail + trusted_note(inputs))


def recovery_spread(params: FactorParams, inputs: Inputs) -> Factor | None:
    """IAM signals (docs/rules.md): recovery attempts across distinct identifiers from the same addresses in the window."""
    e = inputs.evidence
    count = e.recovering_accounts_from_ips
    if count is None:
        return None
    detail = f"{count} accounts had recovery attempts from the same addresses in {minutes(e)} min"
    return ramped("recovery_spread", params, inputs, count, (2, 10), detail + trusted_note(inputs))


def brute_force_ip(params: FactorParams, inputs: Inputs) -> Factor | None:
    """Log rules (docs/rules.md): per source IP, failures > threshold and distinct users > 3; risk = failures x users.
    From a trusted network both thresholds (and the saturation) rise by trusted_threshold_multiplier:
    the office is allowlisted by thresholds, not skipped, so a real spray from it still fires."""
    mine = set(inputs.evidence.source_ips)
    threshold, full = param(params.threshold, 5), param(params.saturate_at, 100)
    multiplier = inputs.guards.trusted_threshold_multiplier
    worst: tuple[float, int, str] | None = None
    for stat in inputs.context.ip_stats:
        if stat.ip not in mine:
            continue
        trusted = in_ranges(stat.ip, inputs.guards.trusted_cidrs)
        m = multiplier if trusted else 1.0
        most_failures, most_users = threshold * m, BRUTE_FORCE_MIN_USERS * m
        if stat.failures <= most_failures or stat.distinct_actors <= most_users:
            continue
        risk = stat.failures * stat.distinct_actors
        points = gated(params.weight, risk, most_failures * most_users, full * m * m)
        detail = f"{stat.ip}: {stat.failures} failures across {stat.distinct_actors} users (risk {risk}), {stat.lockouts} lockouts"
        if trusted:
            detail += (
                f"; a trusted network, so past raised thresholds ({most_failures:g} failures, {most_users:g} users)"
            )
        if worst is None or points > worst[0]:
            worst = (points, risk, detail)
    if worst is None:
        return None
    return Factor(name="brute_force_ip", points=worst[0], detail=worst[2])


def lockouts(params: FactorParams, inputs: Inputs) -> Factor | None:
    locked = inputs.evidence.lockouts
    attempts = max((x.failed_attempt_count or 0 for x in locked), default=0)
    detail = f"locked out {len(locked)}x (up to {attempts} failed attempts)"
    return ramped("lockouts", params, inputs, len(locked), (0, 3), detail)


def recovery_attempts(params: FactorParams, inputs: Inputs) -> Factor | None:
    e = inputs.evidence
    count = sum(e.recovery_by_method.values())
    methods = ", ".join(f"{m} {n}" for m, n in sorted(e.recovery_by_method.items()))
    outcomes = ", ".join(f"{o} {n}" for o, n in sorted(e.recovery_by_outcome.items()))
    detail = f"{count} account-recovery attempts ({methods}; {outcomes})"
    return ramped("recovery_attempts", params, inputs, count, (2, 8), detail)


def low_and_slow(params: FactorParams, inputs: Inputs) -> Factor | None:
    e = inputs.evidence
    hours = {p.at.replace(minute=0, second=0, microsecond=0) for p in e.geo_points if p.event_type in FAILURE_TYPES}
    detail = f"failures spread over {len(hours)} separate hours from {e.source_ip_count} addresses"
    return ramped("low_and_slow", params, inputs, len(hours), (3, 8), detail)
