"""The rules' numbers, read from the loaded playbooks: one source of truth with the SIEM path.

For each rule, the playbook that an Akku alert of its detection would match (PlaybookSet.match)
gives the thresholds: its scoring factors where they carry the seed's number (push_flood,
brute_force_ip, impossible_travel, dormant), its guards (trusted CIDRs and their multiplier,
VPN egress), and its optional `detect:` section for the numbers no factor has (distinct
accounts, lockout cluster size, windows). No playbook for a detection, or `detect.enabled:
false`, turns that rule off.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from playbooks.loader import PlaybookSet
from riposte.models.alert import Alert, Source
from riposte.models.common import DetectionType, Severity
from riposte.models.playbook import FactorParams, PlaybookSnapshot


class Rule(StrEnum):
    MFA_FAILURE_SPIKE = "mfa_failure_spike"
    BRUTE_FORCE_IP = "brute_force_ip"
    LOCKOUT_CLUSTER = "lockout_cluster"
    RECOVERY_STORM = "recovery_storm"
    PUSH_FLOOD = "push_flood"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    DORMANT_ACCOUNT = "dormant_account"


DETECTION: dict[Rule, DetectionType] = {
    Rule.MFA_FAILURE_SPIKE: DetectionType.CREDENTIAL_STUFFING,
    Rule.BRUTE_FORCE_IP: DetectionType.BRUTE_FORCE,
    Rule.LOCKOUT_CLUSTER: DetectionType.BRUTE_FORCE,
    Rule.RECOVERY_STORM: DetectionType.RECOVERY_STORM,
    Rule.PUSH_FLOOD: DetectionType.MFA_FATIGUE,
    Rule.IMPOSSIBLE_TRAVEL: DetectionType.IMPOSSIBLE_TRAVEL,
    Rule.DORMANT_ACCOUNT: DetectionType.DORMANT_ACCOUNT,
}
TITLE: dict[Rule, str] = {
    Rule.MFA_FAILURE_SPIKE: "Akku stream: MFA failure spike across accounts",
    Rule.BRUTE_FORCE_IP: "Akku stream: brute force by source IP",
    Rule.LOCKOUT_CLUSTER: "Akku stream: lockout cluster across accounts",
    Rule.RECOVERY_STORM: "Akku stream: recovery attempts across accounts",
    Rule.PUSH_FLOOD: "Akku stream: MFA push flood",
    Rule.IMPOSSIBLE_TRAVEL: "Akku stream: impossible travel",
    Rule.DORMANT_ACCOUNT: "Akku stream: dormant account sign-in",
}
DEFAULT_SEVERITY: dict[Rule, Severity] = {
    Rule.IMPOSSIBLE_TRAVEL: Severity.MEDIUM,
    Rule.DORMANT_ACCOUNT: Severity.MEDIUM,
}
# defaults where a playbook gives no number (documented in docs/detection.md)
DEFAULT_WINDOW: dict[Rule, timedelta] = {
    Rule.MFA_FAILURE_SPIKE: timedelta(minutes=10),
    Rule.BRUTE_FORCE_IP: timedelta(minutes=15),
    Rule.LOCKOUT_CLUSTER: timedelta(minutes=30),
    Rule.RECOVERY_STORM: timedelta(minutes=30),
    Rule.PUSH_FLOOD: timedelta(minutes=2),  # log rules (docs/rules.md); push_flood.window wins
    Rule.IMPOSSIBLE_TRAVEL: timedelta(hours=1),
    Rule.DORMANT_ACCOUNT: timedelta(hours=24),
}
STUFFING_ACCOUNTS = 10
STUFFING_ACCOUNTS_PER_IP = 5
LOCKOUT_ACCOUNTS = 3
RECOVERY_ACCOUNTS = 3
BRUTE_FORCE_FAILURES = 5  # log rules (docs/rules.md): failures > 5 (brute_force_ip.threshold)
BRUTE_FORCE_USERS = 3  # log rules (docs/rules.md): distinct users > 3, as in the scoring factor
PUSH_CHALLENGES = 5  # log rules (docs/rules.md): more than 5 pushes (push_flood.threshold)
TRAVEL_KMH = 1000.0  # log rules (docs/rules.md): > 1,000 km/h (impossible_travel.threshold)
TRAVEL_MIN_KM = 100.0
DORMANT_DAYS = 90.0  # log rules (docs/rules.md): > 90 days (dormant.threshold)


@dataclass(frozen=True)
class RuleConfig:
    rule: Rule
    playbook: str
    window: timedelta
    severity: Severity
    threshold: float  # distinct accounts (>=), or the seed's "more than" level (>) for the others
    per_ip: float = 0  # mfa_failure_spike: distinct accounts from one IP (>=); brute_force_ip: users (>)
    multiplier: float = 1.0  # on trusted networks
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    vpn: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    min_distance_km: float = TRAVEL_MIN_KM

    @property
    def detection(self) -> DetectionType:
        return DETECTION[self.rule]

    @property
    def title(self) -> str:
        return TITLE[self.rule]


def _networks(cidrs: list[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    found = []
    for cidr in cidrs:
        try:
            found.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return tuple(found)


def _factor(snapshot: PlaybookSnapshot, name: str) -> FactorParams | None:
    return snapshot.playbook.factors.get(name)


def _level(snapshot: PlaybookSnapshot, name: str, default: float) -> float:
    params = _factor(snapshot, name)
    return params.threshold if params is not None and params.threshold is not None else default


def configure(rule: Rule, snapshot: PlaybookSnapshot) -> RuleConfig | None:
    playbook = snapshot.playbook
    detect, guards = playbook.detect, playbook.guards
    if not detect.enabled:
        return None
    base = RuleConfig(
        rule=rule,
        playbook=snapshot.name,
        window=detect.window or DEFAULT_WINDOW[rule],
        severity=detect.severity or DEFAULT_SEVERITY.get(rule, Severity.HIGH),
        threshold=0,
        multiplier=guards.trusted_threshold_multiplier,
        trusted=_networks(guards.trusted_cidrs),
        vpn=_networks(guards.vpn_egress_cidrs),
    )
    if rule is Rule.MFA_FAILURE_SPIKE:
        return replace(
            base,
            threshold=detect.distinct_accounts or STUFFING_ACCOUNTS,
            per_ip=detect.distinct_accounts_per_ip or STUFFING_ACCOUNTS_PER_IP,
        )
    if rule is Rule.BRUTE_FORCE_IP:
        return replace(
            base, threshold=_level(snapshot, "brute_force_ip", BRUTE_FORCE_FAILURES), per_ip=BRUTE_FORCE_USERS
        )
    if rule is Rule.LOCKOUT_CLUSTER:
        return replace(
            base,
            window=detect.lockout_window or DEFAULT_WINDOW[rule],
            threshold=detect.lockout_accounts or LOCKOUT_ACCOUNTS,
        )
    if rule is Rule.RECOVERY_STORM:
        return replace(base, threshold=detect.distinct_accounts or RECOVERY_ACCOUNTS)
    if rule is Rule.PUSH_FLOOD:
        params = _factor(snapshot, "push_flood")
        window = params.window if params is not None and params.window is not None else DEFAULT_WINDOW[rule]
        return replace(base, window=window, threshold=_level(snapshot, "push_flood", PUSH_CHALLENGES))
    if rule is Rule.IMPOSSIBLE_TRAVEL:
        distance = detect.min_distance_km if detect.min_distance_km is not None else TRAVEL_MIN_KM
        return replace(base, threshold=_level(snapshot, "impossible_travel", TRAVEL_KMH), min_distance_km=distance)
    return replace(base, threshold=_level(snapshot, "dormant", DORMANT_DAYS))


def probe(rule: Rule) -> Alert:
    """The alert this rule raises, as far as playbook matching is concerned."""
    return Alert(
        source=Source.AKKU,
        dedup_key=f"akku:{rule.value}:probe",
        rule_name=TITLE[rule],
        detection=DETECTION[rule],
        severity=DEFAULT_SEVERITY.get(rule, Severity.HIGH),
        received_at=datetime.fromtimestamp(0, UTC),
    )


def rule_configs(playbooks: PlaybookSet) -> dict[Rule, RuleConfig]:
    """Every rule that a playbook takes; a rule with no playbook (or detect.enabled false) is off."""
    configs: dict[Rule, RuleConfig] = {}
    for rule in Rule:
        snapshot = playbooks.match(probe(rule))
        if snapshot is None:
            continue
        config = configure(rule, snapshot)
        if config is not None:
            configs[rule] = config
    return configs
