"""The playbook file format: pydantic models that validate a YAML playbook at load.

A playbook says which alerts it matches, how far back to look, how to score, what
to do in each score band, how to ask a person, and which guards hold. The models
are deterministic and I/O-free: a run carries its playbook (content and hash) in
its input, so replays never depend on files that changed since.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from riposte.models.common import ActionKind, DetectionType, Response, Severity

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def _duration(value: object) -> object:
    """'90s', '15m', '2h', '90d' as well as pydantic's own forms (seconds, ISO 8601 'PT1H')."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class Strict(BaseModel):
    """Playbook sections refuse unknown keys: a typo must not silently disable a guard."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Match(Strict):
    detections: list[DetectionType] = Field(min_length=1)
    sources: list[Literal["splunk", "sentinel", "elastic", "generic", "akku"]] = Field(default_factory=list)
    rule_names: list[str] = Field(
        default_factory=list, description="regular expressions on the SIEM rule name; empty = any"
    )
    min_severity: Severity = Severity.LOW


class FactorParams(Strict):
    """One scoring factor: at most `weight` points; see playbooks/scoring.py for each factor."""

    weight: float = Field(ge=0, le=100)
    threshold: float | None = Field(default=None, description="the level at which the factor starts")
    saturate_at: float | None = Field(default=None, description="the level at which it gives full weight")
    window: Duration | None = None


class ApprovalOption(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: str = Field(max_length=75)  # Slack button text limit
    actions: list[ActionKind] = Field(default_factory=list)  # empty = dismiss as benign
    style: Literal["primary", "danger", "default"] = "default"
    confirm: bool = False  # a confirm dialog; always on for destructive actions


class Band(Strict):
    min_score: float = Field(ge=0, le=100)
    response: Response
    actions: list[ActionKind] = Field(default_factory=list)
    options: list[ApprovalOption] = Field(default_factory=list, description="approve only")

    @model_validator(mode="after")
    def _consistent(self) -> Band:
        if self.response is Response.ACT and not self.actions:
            raise ValueError("an 'act' band needs at least one action")
        if self.options and self.response is not Response.APPROVE:
            raise ValueError("options only make sense on an 'approve' band")
        return self


class Approval(Strict):
    channel: str | None = Field(default=None, description="Slack channel id; default SLACK_APPROVAL_CHANNEL")
    approvers: list[str] = Field(default_factory=list, description="Slack user ids; default SLACK_APPROVER_IDS")
    approver_group: str | None = Field(default=None, description="Slack user group id whose members may decide")
    required_approvers: int = Field(default=1, ge=1, le=5)
    timeout: Duration = timedelta(minutes=15)
    remind_after: Duration | None = timedelta(minutes=5)
    escalate_channel: str | None = None
    escalate_after: Duration | None = None
    on_timeout: Literal["dismiss", "act", "keep_waiting"] = "dismiss"
    fallback_actions: list[ActionKind] = Field(default_factory=list, description="on_timeout: act")
    cli_may_complete: bool = Field(
        default=False,
        description="with required_approvers > 1: decisions from the CLI alone may complete the rule "
        "(by default at least one approver decides in Slack)",
    )


class ActionLimit(Strict):
    """At most `max_actions` automatic account actions in any rolling `window`, across every run."""

    max_actions: int = Field(default=25, ge=0)
    window: Duration = timedelta(hours=1)


class Guards(Strict):
    trusted_cidrs: list[str] = Field(default_factory=list, description="e.g. the office: thresholds rise")
    trusted_threshold_multiplier: float = Field(default=3.0, ge=1)
    vpn_egress_cidrs: list[str] = Field(default_factory=list, description="excluded from travel analysis")
    protected_actor_ids: list[str] = Field(default_factory=list, description="break-glass accounts")
    protected_roles: list[str] = Field(default_factory=lambda: ["global_admin", "security_admin"])
    protect_privileged: bool = True
    auto_action_limit: ActionLimit = Field(default_factory=ActionLimit)


class Detect(Strict):
    """Riposte's own detection from Akku's event stream (detect/, docs/detection.md): the numbers
    a rule needs that the playbook's factors and guards do not already give. Each field is read by
    the rules of this playbook's detection only; unset fields keep the defaults in detect/config.py."""

    enabled: bool = Field(default=True, description="false: the stream detector never fires this detection")
    window: Duration | None = Field(default=None, description="the rule's sliding window")
    distinct_accounts: int | None = Field(
        default=None, ge=1, description="distinct accounts within the window that fire the rule (all sources)"
    )
    distinct_accounts_per_ip: int | None = Field(
        default=None, ge=1, description="distinct accounts within the window from one source IP that fire it"
    )
    lockout_accounts: int | None = Field(
        default=None, ge=1, description="distinct accounts locked within lockout_window"
    )
    lockout_window: Duration | None = None
    min_distance_km: float | None = Field(default=None, ge=0, description="travel shorter than this never counts")
    severity: Severity | None = Field(default=None, description="the severity of the alerts the rule raises")


class Playbook(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")
    description: str = ""
    version: int = Field(default=1, ge=1)
    match: Match
    lookback: Duration = timedelta(hours=1)
    correlation_window: Duration = timedelta(hours=1)
    factors: dict[str, FactorParams]
    bands: Annotated[list[Band], Field(min_length=1)]
    approval: Approval = Field(default_factory=Approval)
    guards: Guards = Field(default_factory=Guards)
    dry_run: bool = False
    detect: Detect = Field(default_factory=Detect)
    contain_for: Duration | None = Field(
        default=None,
        description="time-boxed containment: a lock this playbook applied is lifted by itself after this long, "
        "unless a person confirms it first (Keep locked)",
    )

    @field_validator("contain_for")
    @classmethod
    def _contain_for_positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("contain_for must be a positive duration (e.g. 4h)")
        return value

    @field_validator("bands")
    @classmethod
    def _bands_cover_zero(cls, bands: list[Band]) -> list[Band]:
        scores = [b.min_score for b in bands]
        if scores != sorted(scores, reverse=True):
            raise ValueError("bands must be listed from the highest min_score down")
        if scores[-1] != 0:
            raise ValueError("the last band must start at min_score 0 so every score has a response")
        return bands


class PlaybookSnapshot(BaseModel):
    """The playbook a run used, frozen into its input: content and hash."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    sha256: str
    source: str  # file name it was loaded from
    playbook: Playbook
