"""Compact evidence summaries: what enrichment returns instead of raw event lists.

Lists are capped (see the CAP constants) so one actor's evidence stays a few KB
however noisy the attack; counts are always exact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from riposte.models.common import Model

GEO_POINTS_CAP = 100
IPS_CAP = 50
TIMESTAMPS_CAP = 200
LOCKOUTS_CAP = 50
ROLE_CHANGES_CAP = 50

RiskLevel = Literal["low", "medium", "high"]
IpReputation = Literal["good", "unknown", "suspicious", "malicious"]
UserStatus = Literal["active", "locked", "disabled"]


class RiskContext(Model):
    """Akku's adaptive-MFA evaluation of one attempt (docs/rules.md, IAM signals)."""

    risk_level: RiskLevel | None = None
    geo_anomaly: bool | None = None
    ip_reputation: IpReputation | None = None
    unusual_time: bool | None = None
    device_known: bool | None = None


class UserRecord(Model):
    actor_id: str
    email: str | None = None
    login: str | None = None
    display_name: str | None = None
    status: UserStatus = "active"
    roles: list[str] = Field(default_factory=list)
    privileged: bool = False
    created_at: datetime | None = None
    last_active_at: datetime | None = None
    mfa_methods: list[str] = Field(default_factory=list)
    password_reset_required: bool = False


class GeoPoint(Model):
    """One located authentication, for travel analysis (time-ordered in ActorEvidence)."""

    at: datetime
    event_type: str
    source_ip: str | None = None
    country_code: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class Lockout(Model):
    at: datetime
    failed_attempt_count: int | None = None
    source_ip: str | None = None


class RoleChange(Model):
    at: datetime
    action: str  # role.assigned | role.revoked | ...
    actor_id: str  # the admin
    target_id: str
    role: str
    source_ip: str | None = None


class FailureRisk(Model):
    """Failures (mfa.failure, login.failure) split by their risk_context, as the IAM-signal rules (docs/rules.md) asks."""

    high: int = 0  # unknown device AND (unusual time OR suspicious/malicious IP OR risk_level high)
    medium: int = 0
    low: int = 0  # known device at a normal time from a good IP


class AdminHistory(Model):
    """An admin's role-assignment behaviour (docs/rules.md, log rules: compare against their history)."""

    lookback_days: int = 90
    recent: list[RoleChange] = Field(default_factory=list)  # inside the alert's lookback
    roles_assigned_before: list[str] = Field(default_factory=list)  # distinct roles in the prior window
    targets_before: int = 0


class PriorActivity(Model):
    """the log rules' (docs/rules.md) "Last Active" table, read from the event history rather than the user record
    (which the very sign-in that wakes a dormant account may already have updated)."""

    lookback_days: int  # how far before the alert's window the history was read
    last_success_at: datetime | None = None  # the newest success before the window; None: none in lookback_days


class ActorEvidence(Model):
    actor_id: str
    known: bool = True
    user: UserRecord | None = None
    window_start: datetime
    window_end: datetime
    events_total: int = 0
    events_truncated: bool = False
    counts_by_type: dict[str, int] = Field(default_factory=dict)
    mfa_failures_by_method: dict[str, int] = Field(default_factory=dict)
    mfa_failures_by_reason: dict[str, int] = Field(default_factory=dict)
    failure_risk: FailureRisk = Field(default_factory=FailureRisk)
    source_ips: list[str] = Field(default_factory=list)
    source_ip_count: int = 0
    countries: list[str] = Field(default_factory=list)
    geo_points: list[GeoPoint] = Field(default_factory=list)
    push_challenges: list[datetime] = Field(default_factory=list)
    push_successes: list[datetime] = Field(default_factory=list)
    lockouts: list[Lockout] = Field(default_factory=list)
    recovery_by_method: dict[str, int] = Field(default_factory=dict)
    recovery_by_outcome: dict[str, int] = Field(default_factory=dict)
    worst_risk: RiskContext | None = None
    admin: AdminHistory | None = None
    # Across Akku, in the same window (None: not looked up, as in findings recorded before these existed):
    failing_accounts_from_ips: int | None = None  # accounts with failures from this account's failure IPs
    recovering_accounts_from_ips: int | None = None  # accounts with recovery attempts from its recovery IPs
    prior_activity: PriorActivity | None = None  # dormant playbooks only


class IpStats(Model):
    """Alert-wide activity of one source IP (the log rules' (docs/rules.md) brute force by source IP)."""

    ip: str
    failures: int
    distinct_actors: int
    lockouts: int = 0


class AlertContext(Model):
    """What the alert as a whole says, for every actor it names."""

    actor_count: int
    ip_stats: list[IpStats] = Field(default_factory=list)
