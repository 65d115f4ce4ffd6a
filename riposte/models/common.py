"""Base model and shared enums."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base for every contract: immutable, tolerant of unknown fields from newer code."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class DetectionType(StrEnum):
    CREDENTIAL_STUFFING = "credential_stuffing"
    BRUTE_FORCE = "brute_force"
    RECOVERY_STORM = "recovery_storm"
    MFA_FATIGUE = "mfa_fatigue"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    DORMANT_ACCOUNT = "dormant_account"
    ADMIN_ELEVATION = "admin_elevation"
    LOW_AND_SLOW = "low_and_slow"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ActionKind(StrEnum):
    """Response actions in Akku (docs/akku.md, actions)."""

    LOCK = "lock"
    UNLOCK = "unlock"
    FORCE_PASSWORD_RESET = "force_password_reset"  # noqa: S105 - an action name, not a password
    REVOKE_SESSIONS = "revoke_sessions"
    RESET_MFA = "reset_mfa"
    REVOKE_ROLE = "revoke_role"


class Response(StrEnum):
    """What a playbook band tells the engine to do."""

    ACT = "act"  # apply the band's actions automatically (guards permitting)
    APPROVE = "approve"  # ask a person, wait durably, apply what they choose
    NOTIFY = "notify"  # tell the team, act on nothing
    OBSERVE = "observe"  # record only
