"""An investigation's side of Akku writes and Slack notices, as workflow steps.

`Writes` applies a decision's actions, each exactly once: its idempotency key is the
investigation, the decision number and the action, and keys already applied are carried
across continue-as-new. `permit` asks the ActionGovernor before an automatic write;
`notify` posts an FYI. Since lean-acting-v1 the permit and the writes are local
activities within a budget (LOCAL_BUDGET), so an automatic decision takes one workflow task;
past the budget (Akku or the governor slow, a storm) each falls back to an ordinary activity
with the same key: the governor answers a key once, Akku applies a key once. Used only from
workflow code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as LocalBudgetSpent

with workflow.unsafe.imports_passed_through():
    import workflows.patches as patches
    from activities.akku import AkkuActivities
    from activities.governor import GovernorActivities
    from activities.retry import (
        AKKU_WRITE,
        AKKU_WRITE_TIMEOUT,
        GOVERNOR,
        GOVERNOR_TIMEOUT,
        LOCAL_BUDGET,
        SLACK_NOTIFY,
        SLACK_TIMEOUT,
    )
    from activities.slack import SlackActivities
    from riposte.models.actions import ActionRequest, ActionResult
    from riposte.models.common import ActionKind
    from riposte.models.governor import PermitDecision, PermitRequest
    from riposte.models.runs import ApprovalPosted, Assessment, Notification
    from workflows.approval import activity_error_text


ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


def key_base() -> str:
    """Unique per investigation, stable across retries, replays and continue-as-new."""
    info = workflow.info()
    return f"{info.workflow_id}/{info.first_execution_run_id[:8]}"


async def _locally(
    what: str, method: Callable[[Any, ArgT], Awaitable[ResultT]], arg: ArgT, retry: RetryPolicy
) -> ResultT | None:
    """`method` as a local activity within its budget; None if it failed or ran out of time."""
    try:
        return await workflow.execute_local_activity_method(
            method, arg, schedule_to_close_timeout=LOCAL_BUDGET, retry_policy=retry
        )
    except (ActivityError, LocalBudgetSpent) as err:  # live: ActivityError; replayed: TimeoutError
        why = activity_error_text(err) if isinstance(err, ActivityError) else str(err)
        workflow.logger.info("local %s failed; retrying as an activity: %s", what, why)
        return None


async def permit(key: str, assessment: Assessment, *, local: bool = False) -> PermitDecision:
    request = PermitRequest(
        key=key,
        limit=assessment.action_limit,
        window_seconds=assessment.action_window_seconds,
        requested_by=workflow.info().workflow_id,
    )
    if local and (answer := await _locally("permit", GovernorActivities.acquire_permit, request, GOVERNOR)):
        return answer
    return await workflow.execute_activity_method(
        GovernorActivities.acquire_permit, request, start_to_close_timeout=GOVERNOR_TIMEOUT, retry_policy=GOVERNOR
    )


class Writes:
    def __init__(self, actor_id: str, applied: list[str]) -> None:
        self._actor = actor_id
        self.applied = applied  # idempotency keys of the actions already applied

    async def apply(
        self, actions: list[ActionKind], assessment: Assessment, *, decision: int, dry_run: bool, local: bool = False
    ) -> list[ActionResult]:
        """The actions are independent writes to Akku, so they run together (one workflow task
        for all of them rather than one each); results keep the playbook's order."""
        if patches.since(patches.ACTIONS_IN_PARALLEL):
            return list(
                await asyncio.gather(
                    *(self._one(a, assessment, decision=decision, dry_run=dry_run, local=local) for a in actions)
                )
            )
        return [await self._one(a, assessment, decision=decision, dry_run=dry_run) for a in actions]

    async def _one(
        self, action: ActionKind, assessment: Assessment, *, decision: int, dry_run: bool, local: bool = False
    ) -> ActionResult:
        target = assessment.role_target if action is ActionKind.REVOKE_ROLE else self._actor
        target = target or self._actor
        if dry_run:
            return ActionResult(actor_id=target, action=action, status="dry_run", detail="dry run")
        return await self.write(
            action,
            target,
            key=f"{key_base()}:{decision}:{action.value}",
            reason=f"Riposte {assessment.playbook}: score {assessment.score:.0f}",
            role=assessment.role if action is ActionKind.REVOKE_ROLE else None,
            local=local,
        )

    async def write(
        self, action: ActionKind, target: str, *, key: str, reason: str, role: str | None = None, local: bool = False
    ) -> ActionResult:
        """One Akku write under its idempotency key, at most once per run (keys carried across
        continue-as-new); `local`: first as a local activity within its budget. A failure comes
        back as a `failed` result, never as an exception."""
        if key in self.applied:
            return ActionResult(actor_id=target, action=action, status="skipped", detail="done before")
        request = ActionRequest(
            actor_id=target,
            action=action,
            reason=reason,
            reference=workflow.info().workflow_id,
            idempotency_key=key,
            role=role,
        )
        if local and (done := await _locally("write", AkkuActivities.apply_action, request, AKKU_WRITE)):
            self.applied.append(key)
            return done
        try:
            result = await workflow.execute_activity_method(
                AkkuActivities.apply_action, request, start_to_close_timeout=AKKU_WRITE_TIMEOUT, retry_policy=AKKU_WRITE
            )
        except ActivityError as err:
            cause = err.cause
            kind = cause.type if isinstance(cause, ApplicationError) and cause.type else "error"
            message = cause.message if isinstance(cause, ApplicationError) else str(err)
            return ActionResult(actor_id=target, action=action, status="failed", detail=f"{kind}: {message}")
        self.applied.append(key)
        return result


async def notify(notification: Notification) -> ApprovalPosted | None:
    """Post an FYI; the message (channel, ts) it became, or None if Slack could not take it (or
    the run was recorded by code whose notices answered nothing)."""
    if patches.since(patches.LEAN_DECISIONS):
        # a short post: a local activity in the workflow task that records the decision rather
        # than a task of its own; if Slack is slow or down it falls back to an activity, so a
        # stopping worker never waits on Slack for longer than the budget
        try:
            return await workflow.execute_local_activity_method(
                SlackActivities.notify,
                notification,
                schedule_to_close_timeout=LOCAL_BUDGET,
                retry_policy=SLACK_NOTIFY,
            )
        except (ActivityError, LocalBudgetSpent) as err:  # live: ActivityError; replayed: TimeoutError
            why = activity_error_text(err) if isinstance(err, ActivityError) else str(err)
            workflow.logger.info("local Slack notice failed; retrying as an activity: %s", why)
    try:
        return await workflow.execute_activity_method(
            SlackActivities.notify, notification, start_to_close_timeout=SLACK_TIMEOUT, retry_policy=SLACK_NOTIFY
        )
    except ActivityError as err:
        workflow.logger.warning("could not notify Slack", extra={"error": activity_error_text(err)})
        return None
