"""Scripted attacks from docs/rules.md, and the false positives a good engine must not lock.

Each scenario writes its events into the store, timed just before the moment it is
loaded, and returns the facts a SIEM would put in its alert (rule name, detection, the
flagged actors and IPs, the window), so a demo or a test can fire that alert. The events
land on the live stream as they are written, and each attack's pattern sits inside the
last few minutes, inside the windows a streaming detector uses (seeds 000 and 002): brute
force, more than 5 failures across more than 3 users from one IP within a minute or two;
MFA fatigue, more than 5 pushes within 2 minutes, none approved; credential stuffing, MFA
failures across dozens of accounts within 10 minutes; a recovery storm across distinct
identifiers within minutes; a lockout cluster, lockouts on several distinct identifiers
within 5 minutes; a dormant account (more than 90 days idle) signing in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from simulators.akku.store import ATTACKER_CIDR, OFFICE_CIDR, VPN_EGRESS_CIDR, Store, ip_in

Facts = dict[str, Any]
Scenario = Callable[[Store, datetime, dict[str, Any]], Facts]
ATTACK_CITIES = ("Moscow", "Sao Paulo", "Hanoi", "Lagos")


def _facts(
    store: Store,
    name: str,
    rule: str,
    detection: str,
    severity: str,
    actors: list[str],
    ips: list[str],
    start: datetime,
    end: datetime,
    **extra: Any,
) -> Facts:
    from clients.akku.adapter import timestamp

    return {
        "scenario": name,
        "rule_name": rule,
        "detection": detection,
        "severity": severity,
        "actor_ids": actors,
        "emails": [store.users[a]["email"] for a in actors],
        "source_ips": ips,
        "window_start": timestamp(start),
        "window_end": timestamp(end),
        "false_positive": False,
        **extra,
    }


def _actors(store: Store, options: dict[str, Any], count: int, prefix: str = "u_1") -> list[str]:
    given = options.get("actor_ids")
    if given:
        unknown = [a for a in given if a not in store.users]
        if unknown:
            raise ValueError(f"unknown actor ids: {unknown}")
        return list(given)
    return store.pick(int(options.get("count", count)), prefix)


def credential_stuffing(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """IAM signals (docs/rules.md): MFA failures spike across dozens of accounts within minutes, rotating IPs, unknown devices."""
    actors = _actors(store, options, 24)
    ips: list[str] = []
    for i, actor in enumerate(actors):
        for k in range(store.rng.randint(5, 8)):
            ip = ip_in(ATTACKER_CIDR, 10 + (i * 7 + k) % 40)
            ips.append(ip)
            at = now - timedelta(minutes=store.rng.uniform(0.5, 8))  # inside a 10-minute detection window
            risk = store.risk(known=False, reputation=store.rng.choice(["malicious", "suspicious"]), anomaly=True)
            city = store.rng.choice(ATTACK_CITIES)
            store.event("login.failure", actor, at, ip, city, outcome="failure", risk_context=risk)
            store.event(
                "mfa.failure",
                actor,
                at + timedelta(seconds=3),
                ip,
                city,
                mfa_method="TOTP",
                failure_reason="wrong_code",
                outcome="failure",
                risk_context=risk,
            )
    return _facts(
        store,
        "credential_stuffing",
        "Akku - MFA failure spike across accounts",
        "credential_stuffing",
        "high",
        actors,
        sorted(set(ips)),
        now - timedelta(minutes=30),
        now,
    )


def brute_force(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """Log rules (docs/rules.md): one source IP, failures > 5 across distinct users > 3, lockouts."""
    actors = _actors(store, options, 5)
    ip = ip_in(ATTACKER_CIDR, 66)
    for i, actor in enumerate(actors):  # a user every 15 s, 4 failures each: > 3 users inside a minute
        for k in range(4):
            at = now - timedelta(seconds=120 - i * 15 - k * 3)
            risk = store.risk(known=False, reputation="malicious", unusual=True)
            store.event("login.failure", actor, at, ip, "Moscow", outcome="failure", risk_context=risk)
        if i < 2:
            store.event(
                "account.locked",
                actor,
                now - timedelta(seconds=110 - i * 15),
                ip,
                "Moscow",
                outcome="blocked",
                failed_attempt_count=7,
            )
    return _facts(
        store,
        "brute_force",
        "Brute force by source IP",
        "brute_force",
        "high",
        actors,
        [ip],
        now - timedelta(minutes=30),
        now,
    )


def recovery_storm(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """IAM signals (docs/rules.md): bursts of account-recovery attempts, the social-engineering signal."""
    actors = _actors(store, options, 3)
    ips = []
    for i, actor in enumerate(actors):
        for k in range(store.rng.randint(5, 8)):
            ip = ip_in(ATTACKER_CIDR, 120 + i)
            ips.append(ip)
            method = ("email_otp", "sms_otp", "helpdesk", "security_questions")[k % 4]
            outcome = "blocked" if k % 3 == 2 else "failure"
            store.event(
                "recovery.attempted",
                actor,
                now - timedelta(minutes=6, seconds=-40 * k),  # a burst inside the last 6 minutes
                ip,
                "Lagos",
                recovery_method=method,
                outcome=outcome,
                risk_context=store.risk(known=False, reputation="suspicious"),
            )
    return _facts(
        store,
        "recovery_storm",
        "Akku - recovery attempt burst",
        "recovery_storm",
        "high",
        actors,
        sorted(set(ips)),
        now - timedelta(minutes=30),
        now,
    )


def mfa_fatigue(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """Log rules (docs/rules.md): more than 5 push challenges in 2 minutes, none approved."""
    actors = _actors(store, options, 1)
    ip = ip_in(ATTACKER_CIDR, 77)
    for actor in actors:
        for k in range(9):
            at = now - timedelta(seconds=110 - k * 12)
            risk = store.risk(known=False, reputation="suspicious", anomaly=True)
            store.event("mfa.challenge_issued", actor, at, ip, "Frankfurt", mfa_method="push", risk_context=risk)
            store.event(
                "mfa.failure",
                actor,
                at + timedelta(seconds=10),
                ip,
                "Frankfurt",
                mfa_method="push",
                failure_reason="method_unavailable",  # IAM signals (docs/rules.md): the push went unanswered
                outcome="failure",
                risk_context=risk,
            )
    return _facts(
        store, "mfa_fatigue", "MFA push flood", "mfa_fatigue", "high", actors, [ip], now - timedelta(minutes=5), now
    )


def impossible_travel(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """Log rules (docs/rules.md): consecutive logins faster than 1,000 km/h (Chennai, then Frankfurt 20 min later)."""
    actors = _actors(store, options, 1)
    ip = ip_in(ATTACKER_CIDR, 88)
    for actor in actors:
        store.sign_in(actor, now - timedelta(minutes=25), ip_in(OFFICE_CIDR, 31), "Chennai", known=True)
        store.sign_in(actor, now - timedelta(minutes=5), ip, "Frankfurt", known=False, reputation="suspicious")
    return _facts(
        store,
        "impossible_travel",
        "Impossible travel",
        "impossible_travel",
        "medium",
        actors,
        [ip],
        now - timedelta(minutes=30),
        now,
    )


def dormant_account(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """Log rules (docs/rules.md): an account inactive for more than 90 days signs in."""
    actors = _actors(store, options, 1, prefix="u_2")
    ip = ip_in(ATTACKER_CIDR, 99)
    for actor in actors:
        store.sign_in(actor, now - timedelta(minutes=3), ip, "London", known=False, reputation="unknown")
    return _facts(
        store,
        "dormant_account",
        "Dormant account sign-in",
        "dormant_account",
        "medium",
        actors,
        [ip],
        now - timedelta(minutes=30),
        now,
    )


def lockout_cluster(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """IAM signals (docs/rules.md): lockouts on several distinct identifiers within minutes, each after a run of failures."""
    actors = _actors(store, options, 6)
    ips = []
    for i, actor in enumerate(actors):
        ip = ip_in(ATTACKER_CIDR, 180 + i)  # an address each: the cluster, not one IP, is the signal
        ips.append(ip)
        start = now - timedelta(minutes=4, seconds=-30 * i)
        risk = store.risk(known=False, reputation="suspicious", unusual=True)
        for k in range(7):
            at = start + timedelta(seconds=3 * k)
            store.event("login.failure", actor, at, ip, "Hanoi", outcome="failure", risk_context=risk)
        store.event(
            "account.locked",
            actor,
            start + timedelta(seconds=22),
            ip,
            "Hanoi",
            outcome="blocked",
            failed_attempt_count=7,
            risk_context=risk,
        )
    return _facts(
        store,
        "lockout_cluster",
        "Akku - account lockout cluster",
        "brute_force",
        "high",
        actors,
        ips,
        now - timedelta(minutes=30),
        now,
    )


def admin_elevation(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """Log rules (docs/rules.md): an admin assigns a role outside their own 90-day history (global_admin)."""
    admin = "u_admin3"  # has assigned only helpdesk_admin and ivr_admin before
    target = options.get("target") or store.pick(1)[0]
    at = now - timedelta(minutes=4)
    store.audit_event(admin, "role.assigned", target, "global_admin", at, ip_in(ATTACKER_CIDR, 140))
    store.users[target]["roles"] = sorted({*store.users[target]["roles"], "global_admin"})
    store.users[target]["privileged"] = True
    return _facts(
        store,
        "admin_elevation",
        "Directory.Role.Assign outside admin history",
        "admin_elevation",
        "critical",
        [admin],
        [ip_in(ATTACKER_CIDR, 140)],
        now - timedelta(minutes=30),
        now,
        target_id=target,
        role="global_admin",
    )


def low_and_slow(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """One attempt every ten minutes, rotating across many accounts and addresses, for eight hours."""
    actors = _actors(store, options, 10)
    ips = []
    for k in range(48):  # 8 hours x 6 attempts an hour
        actor = actors[k % len(actors)]
        ip = ip_in(ATTACKER_CIDR, 160 + k % 60)
        ips.append(ip)
        at = now - timedelta(minutes=5 + 10 * k)
        risk = store.risk(known=False, reputation="unknown")
        store.event(
            "login.failure", actor, at, ip, ATTACK_CITIES[k % len(ATTACK_CITIES)], outcome="failure", risk_context=risk
        )
    return _facts(
        store,
        "low_and_slow",
        "Low and slow password spray",
        "low_and_slow",
        "medium",
        actors,
        sorted(set(ips)),
        now - timedelta(hours=8),
        now,
    )


def office_login_burst(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """False positive: 50 agents fail then sign in from the office at the start of a shift."""
    actors = _actors(store, options, 50)
    for i, actor in enumerate(actors):
        ip = ip_in(OFFICE_CIDR, 40 + i)
        for k in range(3):
            at = now - timedelta(minutes=15 - k * 2, seconds=i)
            risk = store.risk(known=True)
            store.event("login.failure", actor, at, ip, "Chennai", outcome="failure", risk_context=risk)
            store.event(
                "mfa.failure",
                actor,
                at + timedelta(seconds=2),
                ip,
                "Chennai",
                mfa_method="TOTP",
                failure_reason="expired_code",
                outcome="failure",
                risk_context=risk,
            )
        store.sign_in(actor, now - timedelta(minutes=5, seconds=i), ip, "Chennai", known=True)
    facts = _facts(
        store,
        "office_login_burst",
        "Akku - MFA failure spike across accounts",
        "credential_stuffing",
        "medium",
        actors,
        [ip_in(OFFICE_CIDR, 40)],
        now - timedelta(minutes=30),
        now,
    )
    facts["false_positive"] = True
    return facts


def vpn_switch(store: Store, now: datetime, options: dict[str, Any]) -> Facts:
    """False positive: switching the corporate VPN (Frankfurt egress) on and off looks like travel."""
    actors = _actors(store, options, 1)
    vpn = ip_in(VPN_EGRESS_CIDR, 10)
    for actor in actors:
        store.sign_in(actor, now - timedelta(minutes=22), ip_in(OFFICE_CIDR, 32), "Chennai", known=True)
        store.sign_in(actor, now - timedelta(minutes=6), vpn, "Frankfurt", known=True)
        store.sign_in(actor, now - timedelta(minutes=2), ip_in(OFFICE_CIDR, 32), "Chennai", known=True)  # and off again
    facts = _facts(
        store,
        "vpn_switch",
        "Impossible travel",
        "impossible_travel",
        "medium",
        actors,
        [vpn],
        now - timedelta(minutes=30),
        now,
    )
    facts["false_positive"] = True
    return facts


SCENARIOS: dict[str, Scenario] = {
    f.__name__: f
    for f in (
        credential_stuffing,
        brute_force,
        recovery_storm,
        mfa_fatigue,
        impossible_travel,
        dormant_account,
        lockout_cluster,
        admin_elevation,
        low_and_slow,
        office_login_burst,
        vpn_switch,
    )
}


def load(store: Store, name: str, options: dict[str, Any] | None = None) -> Facts:
    if name not in SCENARIOS:
        raise KeyError(name)
    facts = SCENARIOS[name](store, store.clock(), options or {})
    store.settle()
    return facts
