"""Pydantic models of Akku's bodies: tolerant of unknown fields, strict about documented enums."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from riposte.models.evidence import RiskContext, UserRecord

EventType = Literal[
    "mfa.failure",
    "account.locked",
    "recovery.attempted",
    "mfa.challenge_issued",
    "mfa.success",
    "login.success",
    "login.failure",
]
MfaMethod = Literal["TOTP", "push", "hardware_token", "FIDO2"]
FailureReason = Literal["wrong_code", "expired_code", "method_unavailable"]
Outcome = Literal["failure", "blocked", "success"]
RecoveryMethod = Literal["email_otp", "sms_otp", "security_questions", "helpdesk"]
FAILURE_TYPES = ("mfa.failure", "login.failure")


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class GeoLocation(Body):
    country_code: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class AuthEvent(Body):
    event_id: str
    event_type: EventType
    timestamp: datetime
    actor_id: str
    mfa_method: MfaMethod | None = None
    failure_reason: FailureReason | None = None
    outcome: Outcome | None = None
    failed_attempt_count: int | None = None
    recovery_method: RecoveryMethod | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    geo_location: GeoLocation | None = None
    risk_context: RiskContext | None = None


class EventPage(Body):
    events: list[AuthEvent]
    next_cursor: str | None = None


class ActorEvents(Body):
    events: list[AuthEvent] = Field(default_factory=list)
    truncated: bool = False


class BatchQueryResult(Body):
    results: dict[str, ActorEvents] = Field(default_factory=dict)
    unknown_actor_ids: list[str] = Field(default_factory=list)


class User(UserRecord):
    """Akku's user record is the engine's UserRecord (same fields)."""


class UserList(Body):
    users: list[User]


class UsersBatch(Body):
    users: dict[str, User] = Field(default_factory=dict)
    unknown_actor_ids: list[str] = Field(default_factory=list)


class ActionResponse(Body):
    actor_id: str
    action: str
    status: Literal["applied", "already_applied"]
    user: User | None = None


class AuditEvent(Body):
    event_id: str
    timestamp: datetime
    action: str
    actor_id: str
    target_id: str | None = None
    role: str | None = None
    source_ip: str | None = None
    geo_location: GeoLocation | None = None


class AuditPage(Body):
    events: list[AuditEvent]
    next_cursor: str | None = None


class TrendPoint(Body):
    hour: datetime
    total: int
    failed: int


class LoginMetrics(Body):
    window: str
    total_logins: int
    successful: int
    failed: int
    success_rate: float
    failure_rate: float
    trend: list[TrendPoint] = Field(default_factory=list)


class ErrorBody(Body):
    code: str
    message: str


class ErrorEnvelope(Body):
    error: ErrorBody
