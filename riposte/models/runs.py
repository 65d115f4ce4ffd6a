"""Inputs, outputs, signals, updates and queries of Riposte's workflows.

One model in and one out for every workflow, activity, signal, update and query,
so fields can be added without breaking running workflows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from riposte.models.actions import ActionResult
from riposte.models.alert import Alert, AlertRef
from riposte.models.common import ActionKind, DetectionType, Model, Response, Severity
from riposte.models.evidence import ActorEvidence, AlertContext, UserRecord
from riposte.models.playbook import ApprovalOption, PlaybookSnapshot

# Message names, shared by their senders and the workflows that receive them.
ADD_FINDING = "add_finding"  # signal: a finding about the investigation's person (signal-with-start)
DECIDE = "decide"  # update: a person's choice on a pending approval
UNDO = "undo"  # update: a person takes back what a decision applied (Undo), or keeps a time-boxed lock
STATUS = "status"  # query: where an investigation stands


class Stage(StrEnum):
    """Where an investigation stands (RiposteStage, and the status query)."""

    ASSESSING = "assessing"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    ACTING = "acting"
    ACTED = "acted"
    APPROVED = "approved"
    DISMISSED = "dismissed"
    TIMED_OUT = "timed_out"
    NOTIFIED = "notified"
    OBSERVED = "observed"
    DRY_RUN = "dry_run"
    UNDONE = "undone"
    LOCK_KEPT = "lock_kept"
    CLOSED = "closed"


class DecisionLabel(StrEnum):
    """What a decision came to (RiposteDecision); each is also the stage it leaves the run in."""

    ACTED = "acted"  # automatic, by policy
    APPROVED = "approved"  # a person chose an option with actions
    DISMISSED = "dismissed"  # a person chose an option without actions
    TIMED_OUT = "timed_out"  # nobody decided in time: the playbook's fallback, or nothing
    NOTIFIED = "notified"
    OBSERVED = "observed"
    DRY_RUN = "dry_run"
    UNDONE = "undone"  # a person took back what a decision applied, or its contain_for lapsed
    LOCK_KEPT = "lock_kept"  # a person confirmed a time-boxed lock: it no longer lapses


class RunOptions(Model):
    """Deployment facts a workflow needs but must not read from the environment itself."""

    dry_run: bool = False
    continue_as_new_after: int = Field(default=2_000, ge=10)  # history events before an investigation renews
    ui_url: str | None = None  # base of links to runs in the Temporal UI
    namespace: str = "default"


# --- alert run ---------------------------------------------------------------------------


class AlertRunInput(Model):
    alert: Alert
    playbook: PlaybookSnapshot
    options: RunOptions = Field(default_factory=RunOptions)


class AlertRunOutcome(Model):
    alert_workflow_id: str
    detection: DetectionType
    playbook: str
    actors_flagged: int
    actors_resolved: int
    unknown_identities: list[str] = Field(default_factory=list)  # capped at 100
    investigations: list[str] = Field(default_factory=list)  # workflow ids, capped at 100
    enrichment_batches: int = 0


# --- investigation -----------------------------------------------------------------------


class Finding(Model):
    """One alert's evidence about one actor: the signal that opens or joins an investigation."""

    finding_id: str  # the alert run's workflow id: a redelivered signal is recognised
    alert: AlertRef
    playbook: PlaybookSnapshot
    evidence: ActorEvidence
    context: AlertContext


class InvestigationInput(Model):
    actor_id: str
    options: RunOptions = Field(default_factory=RunOptions)
    carried: InvestigationState | None = None  # continue-as-new


class Factor(Model):
    name: str
    points: float
    detail: str  # plain words: "23 MFA failures in 1 h, 19 from unknown devices"


class Assessment(Model):
    """The pure decision: score, factors, and what the playbook says to do."""

    score: float = Field(ge=0, le=100)
    factors: list[Factor]
    response: Response
    actions: list[ActionKind] = Field(default_factory=list)
    options: list[ApprovalOption] = Field(default_factory=list)
    detections: list[DetectionType]
    severity: Severity
    playbook: str
    guard_notes: list[str] = Field(default_factory=list)  # why a guard changed the response
    protected: bool = False  # protected account: never acted on automatically
    action_limit: int = 25
    action_window_seconds: float = 3600.0
    role: str | None = None  # admin elevation: the role to revoke
    role_target: str | None = None
    # a notify band's FYI offers the band above it: a person may choose, nothing happens without one
    offer: list[ApprovalOption] = Field(default_factory=list)


class EvaluationInput(Model):
    actor_id: str
    findings: list[Finding]
    now: datetime
    # RIPOSTE_PROTECTED_ACTORS: filled in by the worker's scoring step, on top of each playbook's list
    protected_actor_ids: list[str] = Field(default_factory=list)


# --- approval ----------------------------------------------------------------------------


class ApprovalRequest(Model):
    """What the approval message shows and what the decide update is checked against."""

    request_id: str
    workflow_id: str
    run_ui_url: str | None = None
    actor_id: str
    user: UserRecord | None = None
    assessment: Assessment
    evidence: ActorEvidence
    siem_url: str | None = None
    channel: str | None = None
    approvers: list[str] = Field(default_factory=list)
    approver_group: str | None = None
    required_approvers: int = 1
    expires_at: datetime
    dry_run: bool = False
    # escalated because an automatic action was refused (the action limit, or a pause): a person
    # decides, and the playbook's timeout fallback never applies
    automatic_refused: bool = False
    # an FYI's optional choice (a notify band offering the band above it): the run does not wait for
    # it, and it can be chosen only until `expires_at` (the end of the run's quiet period)
    offer: bool = False
    # posted again to the escalation channel: how long it had waited, and where
    waited_seconds: int | None = None
    waited_in: str | None = None


class Approvers(Model):
    """Who may decide an approval request: known before the message is posted."""

    ids: list[str] = Field(default_factory=list)


class ApprovalPosted(Model):
    channel: str
    ts: str | None = None  # None: Slack was unreachable; the run waits all the same
    allowed_approvers: list[str] = Field(default_factory=list)
    error: str | None = None


class DecisionRequest(Model):
    """The `decide` update: a person's choice on a pending approval."""

    request_id: str
    option_id: str
    decided_by: str  # Slack user id, or "cli:<operator>"
    decided_by_name: str = ""
    decided_by_email: str | None = None  # from the clicker's Slack profile: nobody decides on themselves
    via: Literal["slack", "cli"] = "slack"
    proof: str | None = None  # CLI: HMAC under the operator's token over this decision (riposte/operators.py)
    via_digest: str | None = None  # the digest whose Approve all / Deny all this comes from
    reason: str = Field(default="", max_length=500)  # undo: why (the CLI's --reason; not covered by the proof)


class DeciderCheck(Model):
    """Input of the activity that confirms, at the moment of the decision, who is deciding."""

    request: ApprovalRequest
    decision: DecisionRequest


class DeciderVerdict(Model):
    allowed: bool
    reason: str = ""


class DecisionAck(Model):
    status: Literal["decided", "awaiting_more_approvers"]
    option_id: str
    approvals: int
    required: int


class Notification(Model):
    """An FYI message to the team (notify responses, automatic actions, failures)."""

    actor_id: str
    headline: str
    channel: str | None = None
    assessment: Assessment | None = None
    user: UserRecord | None = None
    results: list[ActionResult] = Field(default_factory=list)
    run_ui_url: str | None = None
    hold: Hold | None = None  # what the action applied that can, or cannot, be undone


class ThreadReminder(Model):
    """Input of the activity that reminds the people who may decide, in the request's thread."""

    request: ApprovalRequest
    posted: ApprovalPosted
    allowed: list[str] = Field(default_factory=list)  # Slack ids resolved for this round
    waited_seconds: int


class ApprovalUpdate(Model):
    """Input of the activity that rewrites the Slack message after a decision or timeout."""

    request: ApprovalRequest
    posted: ApprovalPosted
    headline: str
    decided_by: list[str] = Field(default_factory=list)
    decided_at: datetime | None = None
    results: list[ActionResult] = Field(default_factory=list)
    keep_buttons: bool = False  # a reminder or a re-score: the request is still open
    hold: Hold | None = None  # after a decision that applied actions: what can, or cannot, be undone


# --- containment (what can be undone; workflows/containment.py) --------------------------


class Hold(Model):
    """What one decision applied, as Undo and Keep locked see it: the reversible actions (a lock
    Riposte applied), why the others cannot be taken back, and when a time-boxed lock lapses."""

    decision: int  # the decision's index in the run's ledger
    request_id: str  # "undo-<decision>": what an Undo / Keep locked click or `riposte undo` names
    workflow_id: str
    actor_id: str
    reversible: list[ActionKind] = Field(default_factory=list)
    irreversible: list[str] = Field(default_factory=list)  # one sentence per action that cannot be undone
    lapses_at: datetime | None = None  # contain_for: unlocked by itself then, unless someone keeps it
    approvers: list[str] = Field(default_factory=list)  # the playbook's approval policy: who may undo
    approver_group: str | None = None
    allowed: list[str] = Field(default_factory=list)  # Slack ids known to the run as approvers (empty: unknown)
    outcome: Literal["held", "kept", "undone", "lapsed"] = "held"
    by: str = ""  # who undid or kept it
    at: datetime | None = None
    reason: str = ""
    results: list[ActionResult] = Field(default_factory=list)  # Akku's answers to the reversal


class HoldRecord(Model):
    """A hold and what is needed to act on it and show it again: carried across continue-as-new."""

    hold: Hold
    assessment: Assessment
    response: Response
    notice: Notification | None = None  # the notice after an automatic action, as posted
    notice_posted: ApprovalPosted | None = None
    approval: list[ApprovalUpdate] = Field(default_factory=list)  # the decided approval message(s)


class HoldUpdate(Model):
    """Input of the activity that shows an undo, a lapse or a kept lock on the messages."""

    notice: Notification | None = None
    notice_posted: ApprovalPosted | None = None
    approval: list[ApprovalUpdate] = Field(default_factory=list)


class UndoAck(Model):
    outcome: Literal["undone", "kept", "failed"]  # failed: Akku did not unlock; the account is still locked
    results: list[ActionResult] = Field(default_factory=list)
    detail: str = ""


# --- outcome -----------------------------------------------------------------------------


class DecisionRecord(Model):
    at: datetime
    label: DecisionLabel
    response: Response
    score: float
    decided_by: str  # "policy" or the people who decided
    option_id: str | None = None
    actions: list[ActionKind] = Field(default_factory=list)
    results: list[ActionResult] = Field(default_factory=list)
    note: str = ""
    via_digest: str | None = None  # decided with a digest's bulk button (its workflow id)


class InvestigationState(Model):
    """What an investigation carries across continue-as-new."""

    findings: list[Finding] = Field(default_factory=list)
    seen_finding_ids: list[str] = Field(default_factory=list)
    decisions: list[DecisionRecord] = Field(default_factory=list)
    applied: list[str] = Field(default_factory=list)  # idempotency keys of actions already applied
    opened_at: datetime | None = None
    assessment: Assessment | None = None  # the latest score: the outcome and status keep it
    stage: Stage | None = None  # absent in runs continued by older code: they start over at "assessing"
    offer: ApprovalRequest | None = None  # an FYI's choice still open (actionable-notify-v1)
    offer_posted: list[ApprovalPosted] = Field(default_factory=list)
    offer_allowed: list[str] = Field(default_factory=list)  # who may decide it, as resolved when it was posted
    holds: list[HoldRecord] = Field(default_factory=list)  # containment: what can be undone, lapse timers


class InvestigationStatus(Model):
    actor_id: str
    stage: Stage
    score: float | None = None
    detections: list[DetectionType] = Field(default_factory=list)
    factors: list[Factor] = Field(default_factory=list)
    playbook: str | None = None
    pending: ApprovalRequest | None = None
    approvals: list[str] = Field(default_factory=list)
    offer: ApprovalRequest | None = None  # an FYI's optional choice, open until its expires_at
    decisions: list[DecisionRecord] = Field(default_factory=list)
    holds: list[Hold] = Field(default_factory=list)


class InvestigationOutcome(Model):
    actor_id: str
    detections: list[DetectionType]
    score: float
    factors: list[Factor]
    decision: DecisionLabel
    decided_by: str
    actions: list[ActionResult] = Field(default_factory=list)
    findings: int
    opened_at: datetime
    closed_at: datetime
    dry_run: bool = False


InvestigationInput.model_rebuild()
Notification.model_rebuild()
ApprovalUpdate.model_rebuild()


# --- dispatch (alert run -> investigations) ----------------------------------------------


class DispatchRequest(Model):
    """Enrich up to 100 actors in Akku and hand each its finding (signal-with-start)."""

    alert_workflow_id: str
    alert: AlertRef
    playbook: PlaybookSnapshot
    actor_ids: list[str] = Field(max_length=100)
    since: datetime
    until: datetime
    context: AlertContext
    options: RunOptions
    admin_history_days: int | None = None


class DispatchResult(Model):
    investigations: list[str] = Field(default_factory=list)
    unknown_actor_ids: list[str] = Field(default_factory=list)
