"""Test doubles for the investigation's activities: the workflow runs for real on Temporal's
time-skipping server, its Slack, Akku, governor and scoring steps answer from this script."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from playbooks.loader import PlaybookSet
from riposte.models.actions import ActionRequest, ActionResult
from riposte.models.alert import AlertRef, Source
from riposte.models.common import ActionKind, DetectionType, Response, Severity
from riposte.models.digest import JoinAnswer, JoinRequest
from riposte.models.evidence import ActorEvidence, AlertContext, UserRecord
from riposte.models.governor import PermitDecision, PermitRequest
from riposte.models.runs import (
    ApprovalPosted,
    ApprovalRequest,
    ApprovalUpdate,
    Approvers,
    Assessment,
    DeciderCheck,
    DeciderVerdict,
    DecisionRequest,
    EvaluationInput,
    Finding,
    HoldUpdate,
    Notification,
    ThreadReminder,
)

PLAYBOOKS = PlaybookSet.load(Path(__file__).resolve().parents[2] / "playbooks")
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def finding(
    actor: str, detection: DetectionType, finding_id: str, playbook: str | None = None, *, required_approvers: int = 1
) -> Finding:
    snapshot = PLAYBOOKS.get(playbook or detection.value.replace("_", "-"))
    assert snapshot is not None
    if required_approvers != 1:
        rules = snapshot.playbook
        approval = rules.approval.model_copy(update={"required_approvers": required_approvers})
        snapshot = snapshot.model_copy(update={"playbook": rules.model_copy(update={"approval": approval})})
    return Finding(
        finding_id=finding_id,
        alert=AlertRef(
            source=Source.GENERIC,
            dedup_key=finding_id,
            rule_name="r",
            detection=detection,
            severity=Severity.HIGH,
            received_at=NOW,
        ),
        playbook=snapshot,
        evidence=ActorEvidence(
            actor_id=actor,
            user=UserRecord(actor_id=actor, email=f"{actor}@example.com"),
            window_start=NOW - timedelta(hours=1),
            window_end=NOW,
        ),
        context=AlertContext(actor_count=1),
    )


def assessment(response: Response, actions: list[ActionKind], *, playbook: str, score: float = 70) -> Assessment:
    return Assessment(
        score=score,
        factors=[],
        response=response,
        actions=actions,
        detections=[DetectionType.CREDENTIAL_STUFFING],
        severity=Severity.HIGH,
        playbook=playbook,
    )


@dataclass
class Script:
    """What each step answers, and what the workflow asked of it."""

    assessments: dict[str, Assessment] = field(default_factory=dict)  # by the latest finding's detection
    approvers: list[list[str]] = field(default_factory=list)  # one list per round, in order
    permits: list[bool] = field(default_factory=list)  # answers in order; then granted
    rounds: list[str] = field(default_factory=list)  # request ids, in the order they were asked
    removed: set[str] = field(default_factory=set)  # approvers taken off the list since the request was posted
    confirmed: list[DecisionRequest] = field(default_factory=list)
    post_failures: int = 0  # Slack refuses this many posts first (down at the ask, at the reminder)
    posted: list[ApprovalRequest] = field(default_factory=list)
    writes: list[ActionRequest] = field(default_factory=list)
    updates: list[ApprovalUpdate] = field(default_factory=list)
    notices: list[Notification] = field(default_factory=list)
    reminders: list[ThreadReminder] = field(default_factory=list)
    hold_updates: list[HoldUpdate] = field(default_factory=list)
    failing: set[ActionKind] = field(default_factory=set)  # Akku refuses these writes

    def activities(self) -> list[Any]:
        script = self

        @activity.defn(name="Score and decide")
        async def evaluate(inp: EvaluationInput) -> Assessment:
            return script.assessments[inp.findings[-1].alert.detection.value]

        @activity.defn(name="Find who may decide in Slack")
        async def approvers(request: ApprovalRequest) -> Approvers:
            if request.request_id not in script.rounds:
                script.rounds.append(request.request_id)
            round_number = script.rounds.index(request.request_id)
            return Approvers(ids=script.approvers[min(round_number, len(script.approvers) - 1)])

        @activity.defn(name="Ask for approval in Slack")
        async def post_approval(request: ApprovalRequest) -> ApprovalPosted:
            if script.post_failures > 0:
                script.post_failures -= 1
                raise ApplicationError("Slack is down", type="SlackUnavailable", non_retryable=True)
            script.posted.append(request)
            return ApprovalPosted(channel=request.channel or "C1", ts=f"{len(script.posted)}.0")

        @activity.defn(name="Update the approval message in Slack")
        async def update_approval(update: ApprovalUpdate) -> ApprovalPosted:
            script.updates.append(update)
            return update.posted

        @activity.defn(name="Notify the team in Slack")
        async def notify(notification: Notification) -> ApprovalPosted:
            script.notices.append(notification)
            return ApprovalPosted(channel="C1", ts=f"n{len(script.notices)}.0")

        @activity.defn(name="Show an undo in Slack")
        async def update_hold(update: HoldUpdate) -> None:
            script.hold_updates.append(update)

        @activity.defn(name="Remind in the request's thread in Slack")
        async def remind(reminder: ThreadReminder) -> None:
            script.reminders.append(reminder)

        @activity.defn(name="Apply response action in Akku")
        async def apply_action(request: ActionRequest) -> ActionResult:
            script.writes.append(request)
            if request.action in script.failing:
                raise ApplicationError("Akku refused", type="AkkuConflict", non_retryable=True)
            return ActionResult(actor_id=request.actor_id, action=request.action, status="applied")

        @activity.defn(name="Ask the action governor for a permit")
        async def acquire_permit(request: PermitRequest) -> PermitDecision:
            granted = script.permits.pop(0) if script.permits else True
            return PermitDecision(
                key=request.key, granted=granted, used_in_window=request.limit, limit=request.limit, window_seconds=3600
            )

        @activity.defn(name="Confirm who is deciding")
        async def confirm(check: DeciderCheck) -> DeciderVerdict:
            script.confirmed.append(check.decision)
            if check.decision.via == "cli":
                return DeciderVerdict(allowed=check.decision.proof == "valid", reason="proof did not check out")
            round_number = (
                script.rounds.index(check.request.request_id) if check.request.request_id in script.rounds else 0
            )
            current = script.approvers[min(round_number, len(script.approvers) - 1)] if script.approvers else []
            if check.decision.decided_by in script.removed or check.decision.decided_by not in current:
                return DeciderVerdict(
                    allowed=False, reason=f"{check.decision.decided_by} is no longer allowed to decide"
                )
            return DeciderVerdict(allowed=True)

        @activity.defn(name="Join the approval digest")
        async def join(request: JoinRequest) -> JoinAnswer:  # no wave here: every request is posted on its own
            return JoinAnswer(digest_id="riposte-digest/test", position=1, individual=True)

        return [
            evaluate,
            approvers,
            post_approval,
            update_approval,
            notify,
            remind,
            update_hold,
            apply_action,
            acquire_permit,
            confirm,
            join,
        ]
