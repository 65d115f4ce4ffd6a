"""Containment that can be undone: what a decision applied, Undo, Keep locked, and the lapse.

After a decision applies actions the investigation keeps a `Hold` for it:
which applied actions Riposte can reverse (a lock it applied: Akku's `unlock`), and a sentence
for each it cannot (a role has no restore endpoint in Akku; sessions, a forced reset and MFA
factors are gone). The `undo` update takes a person's Undo or Keep locked: refused by `check`
before anything reaches the history (unknown request, nothing reversible, already undone, the
person under investigation, a Slack user the run knows is not an approver), then confirmed at the
moment of the decision by the same activity as an approval (fail-closed), then applied with its
own idempotency key and recorded in the ledger with who, why and what Akku answered.

A playbook's `contain_for` time-boxes a lock: a durable timer (a workflow timer, so it survives
worker restarts and continue-as-new, which carries the absolute `lapses_at`) lifts it by itself
unless a person keeps it first; the investigation stays open until then. Used only from workflow
code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as LocalBudgetSpent

with workflow.unsafe.imports_passed_through():
    import workflows.patches as patches
    from activities.deciders import DeciderActivities
    from activities.retry import LOCAL_BUDGET, SLACK_NOTIFY, SLACK_POST, SLACK_TIMEOUT
    from activities.slack import SlackActivities
    from playbooks import containment as undoable
    from playbooks.deciders import is_excluded
    from playbooks.wording import action_names
    from riposte.models.actions import ActionResult
    from riposte.models.common import Response
    from riposte.models.runs import (
        ApprovalPosted,
        ApprovalRequest,
        ApprovalUpdate,
        Assessment,
        DeciderCheck,
        DecisionLabel,
        DecisionRequest,
        Hold,
        HoldRecord,
        HoldUpdate,
        Notification,
        Stage,
        UndoAck,
    )
    from workflows.actions import Writes, key_base
    from workflows.approval import activity_error_text
    from workflows.case import Case
    from workflows.ledger import Ledger

LAPSED_BY = "policy (contain_for lapsed)"
MIN_WAIT = timedelta(seconds=1)


def _reversed(results: list[ActionResult]) -> bool:
    """Akku unlocked (or had: `already_applied`; `skipped`: this run did it before)."""
    return all(r.status in ("applied", "already_applied", "skipped") for r in results)


def _stamp(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "earlier"


class Containment:
    def __init__(self, actor_id: str, holds: list[HoldRecord], case: Case, ledger: Ledger, writes: Writes) -> None:
        self.holds = holds
        self._actor = actor_id
        self._case = case
        self._ledger = ledger
        self._writes = writes
        self._busy: set[str] = set()  # holds whose reversal is under way
        self._showing = 0  # message updates under way
        self._tasks: list[asyncio.Task[None]] = []

    # --- what was applied ------------------------------------------------------------------

    def hold(
        self,
        assessment: Assessment,
        results: list[ActionResult],
        *,
        response: Response,
        allowed: list[str] | None = None,
    ) -> Hold | None:
        """Called right after a decision is recorded; None when it applied nothing. Starts the
        lapse timer of a time-boxed lock. Keeping a hold issues no command: a run replayed from
        before this existed keeps one too, and only an undo (a new update) or a lapse timer (a
        playbook field older code could not load) adds commands, each behind containment-v1, so
        a run that acts without either records no extra marker."""
        if not any(r.status in ("applied", "already_applied") for r in results):
            return None
        decision = len(self._ledger.decisions) - 1
        reversible, irreversible = undoable.split(results, assessment.role)
        snapshot = self._case.playbook(assessment.playbook)
        contain_for = snapshot.playbook.contain_for if snapshot else None
        policy = self._case.policy(assessment)
        known = allowed or ([] if policy.approver_group else policy.approvers)
        hold = Hold(
            decision=decision,
            request_id=undoable.request_id(decision),
            workflow_id=workflow.info().workflow_id,
            actor_id=self._actor,
            reversible=reversible,
            irreversible=irreversible,
            lapses_at=workflow.now() + contain_for if contain_for and reversible else None,
            approvers=policy.approvers,
            approver_group=policy.approver_group,
            allowed=known,
        )
        self.holds.append(HoldRecord(hold=hold, assessment=assessment, response=response))
        self._arm(hold.request_id)
        return hold

    def shown(
        self,
        hold: Hold | None,
        *,
        notice: Notification | None = None,
        posted: ApprovalPosted | None = None,
        approval: list[ApprovalUpdate] | None = None,
    ) -> None:
        """Remember the messages that show a hold, to update them after an undo or a lapse."""
        record = self._find(hold.request_id) if hold else None
        if record is not None:
            changes = {"notice": notice, "notice_posted": posted} if notice else {"approval": approval or []}
            self._replace(record.model_copy(update=changes))

    def resume(self) -> None:
        """After continue-as-new: the carried time-boxed locks wait for their lapse again."""
        for record in self.holds:
            self._arm(record.hold.request_id)

    def listed(self) -> list[Hold]:
        return [r.hold for r in self.holds]

    # --- Undo and Keep locked ---------------------------------------------------------------

    def check(self, request: DecisionRequest, excluded: set[str]) -> None:
        """The `undo` validator: refuse (ValueError) before anything is written to the history."""
        record = self._find(request.request_id)
        if record is None:
            if not self.holds:
                raise ValueError("nothing to undo: this run has applied no action that it keeps track of")
            offered = ", ".join(r.hold.request_id for r in self.holds)
            raise ValueError(f"unknown undo request {request.request_id!r} (this run has {offered})")
        hold = record.hold
        if request.option_id not in undoable.OPTIONS:
            raise ValueError(f"unknown option {request.option_id!r}: undo or keep")
        if hold.outcome == "undone":
            raise ValueError(f"already undone by {hold.by} at {_stamp(hold.at)}")
        if hold.outcome == "lapsed":
            raise ValueError(f"already lifted: its contain_for lapsed at {_stamp(hold.at)}")
        if not hold.reversible:
            raise ValueError("nothing here can be undone through Akku: " + "; ".join(hold.irreversible))
        if request.option_id == undoable.KEEP and hold.lapses_at is None:
            reason = f"already kept locked by {hold.by}" if hold.outcome == "kept" else "this lock does not lapse"
            raise ValueError(f"{reason}: nothing to keep")
        if request.request_id in self._busy:
            raise ValueError("an undo of this decision is already under way")
        if request.via == "slack" and hold.allowed and request.decided_by not in hold.allowed:
            raise ValueError(f"{request.decided_by} is not allowed to undo this (the playbook's approvers decide)")
        if request.via == "cli" and not request.decided_by.removeprefix("cli:").strip():
            raise ValueError("an undo from the CLI must name the operator")
        if is_excluded(request, excluded):
            raise ValueError("the person under investigation cannot undo it")

    async def decide(self, request: DecisionRequest) -> UndoAck:
        """The `undo` update, after its validator: confirm who it is, then undo or keep."""
        workflow.patched(patches.CONTAINMENT)  # marks the runs whose commands include an undo
        record = self._find(request.request_id)
        assert record is not None  # the validator saw it, and holds are never removed
        await self._confirm(record, request)
        record = self._find(request.request_id)  # as it is now: the confirmation took a moment
        assert record is not None
        hold = record.hold
        if hold.outcome in ("undone", "lapsed") or request.request_id in self._busy:
            raise ApplicationError(f"already undone ({hold.by or 'under way'})", type="AlreadyDecided")
        who = (request.decided_by_name or request.decided_by.removeprefix("cli:")) + (
            " (CLI)" if request.via == "cli" else ""
        )
        if request.option_id == undoable.KEEP:
            if hold.lapses_at is None:
                raise ApplicationError("already kept locked", type="AlreadyDecided")
            kept = hold.model_copy(update={"outcome": "kept", "by": who, "at": workflow.now(), "lapses_at": None})
            self._replace(record.model_copy(update={"hold": kept}))
            note = request.reason or "kept locked: the contain_for lapse is cancelled"
            self._ledger.record(record.assessment, DecisionLabel.LOCK_KEPT, record.response, who, "keep", note=note)
            self._ledger.set_stage(Stage.LOCK_KEPT, f"{who} kept the lock on {self._actor}: it no longer lapses")
            self._show(kept.request_id)
            return UndoAck(outcome="kept", detail=f"kept locked by {who}")
        reason = request.reason or ("undone with the Undo button" if request.via == "slack" else "undone")
        results = await self._reverse(hold=hold, by=who, reason=reason, lapse=False)
        return UndoAck(outcome="undone" if _reversed(results) else "failed", results=results, detail=reason)

    async def _confirm(self, record: HoldRecord, request: DecisionRequest) -> None:
        """Still an approver (Slack), the operator's proof (CLI), not favoured by a role change:
        the approval's own check, against the hold's synthetic request. Fail-closed."""
        hold, latest = record.hold, self._case.latest()
        check = DeciderCheck(
            request=ApprovalRequest(
                request_id=hold.request_id,
                workflow_id=hold.workflow_id,
                actor_id=self._actor,
                user=self._case.user(),
                assessment=record.assessment,
                evidence=latest.evidence,
                approvers=hold.approvers,
                approver_group=hold.approver_group,
                expires_at=workflow.now(),
            ),
            decision=request,
        )
        try:
            verdict = await workflow.execute_local_activity_method(
                DeciderActivities.confirm, check, schedule_to_close_timeout=LOCAL_BUDGET, retry_policy=SLACK_POST
            )
        except (ActivityError, LocalBudgetSpent) as err:
            why = activity_error_text(err) if isinstance(err, ActivityError) else str(err)
            raise ApplicationError(f"could not confirm who is undoing ({why})", type="NotAllowed") from None
        if not verdict.allowed:
            workflow.logger.warning("undo refused", extra={"decided_by": request.decided_by, "reason": verdict.reason})
            raise ApplicationError(verdict.reason, type="NotAllowed")

    async def _reverse(self, *, hold: Hold, by: str, reason: str, lapse: bool) -> list[ActionResult]:
        """Unlock (Akku's only reversal) under the key `<run>:undo:<decision>:unlock`: a repeated
        undo, a lapse racing an undo, or a retried step never writes twice."""
        self._busy.add(hold.request_id)
        try:
            results = list(
                await asyncio.gather(
                    *(
                        self._writes.write(
                            undoable.REVERSE[action],
                            hold.actor_id,
                            key=f"{key_base()}:undo:{hold.decision}:{undoable.REVERSE[action].value}",
                            reason=f"Riposte undo by {by}: {reason}",
                        )
                        for action in hold.reversible
                    )
                )
            )
        finally:
            self._busy.discard(hold.request_id)
        record = self._find(hold.request_id)
        assert record is not None
        what = action_names(hold.reversible)
        if _reversed(results):
            done = record.hold.model_copy(
                update={
                    "outcome": "lapsed" if lapse else "undone",
                    "by": by,
                    "at": workflow.now(),
                    "reason": reason,
                    "results": results,
                }
            )
            details = f"{what} on {self._actor} lifted by {by}: {reason}"
            stage = Stage.UNDONE
        else:  # the account is still locked: say so; a person may try again (a lapse does not retry)
            done = record.hold.model_copy(
                update={"results": results, "lapses_at": None if lapse else record.hold.lapses_at}
            )
            reason = f"{reason}; the unlock failed, the account is still locked"
            details = f"undo of {what} on {self._actor} failed: {results[0].detail if results else ''}"
            stage = self._ledger.stage
        self._replace(record.model_copy(update={"hold": done}))
        self._ledger.record(
            record.assessment,
            DecisionLabel.UNDONE,
            record.response,
            by,
            undoable.UNDO,
            [undoable.REVERSE[a] for a in hold.reversible],
            results,
            note=reason,
        )
        self._ledger.set_stage(stage, details)
        self._show(hold.request_id)
        return results

    # --- the lapse --------------------------------------------------------------------------

    def pending(self) -> bool:
        """A time-boxed lock waits for its lapse, or a reversal or its message is under way."""
        lapsing = any(r.hold.outcome == "held" and r.hold.lapses_at for r in self.holds)
        return lapsing or bool(self._busy) or self._showing > 0

    def settled(self) -> bool:
        """No reversal or message update under way: the run may continue as new."""
        return not self._busy and self._showing == 0

    async def held_open(self, interrupted: Callable[[], bool]) -> bool:
        """The quiet period is over: wait while containment still needs the run (a lock still to
        lapse), unless `interrupted()`. True when interrupted (a new finding), False to close."""
        if not self.pending():
            return False
        await workflow.wait_condition(lambda: interrupted() or not self.pending())
        return interrupted()

    def _arm(self, request_id: str) -> None:
        record = self._find(request_id)
        if record is not None and record.hold.lapses_at is not None and workflow.patched(patches.CONTAINMENT):
            self._tasks.append(asyncio.create_task(self._lapse(request_id)))

    async def _lapse(self, request_id: str) -> None:
        while True:
            record = self._find(request_id)
            assert record is not None
            hold = record.hold
            if hold.lapses_at is None or hold.outcome != "held":
                return  # kept, undone, or lifted already
            if request_id in self._busy:  # an undo is under way: see how it ends
                await workflow.wait_condition(lambda: request_id not in self._busy)
                continue
            remaining = hold.lapses_at - workflow.now()
            if remaining > timedelta(0):
                await self._until_changed(record, max(remaining, MIN_WAIT))
                continue
            await self._reverse(hold=hold, by=LAPSED_BY, reason="contain_for lapsed", lapse=True)
            return

    async def _until_changed(self, record: HoldRecord, timeout: timedelta) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._find(record.hold.request_id) != record,
                timeout=timeout,
                timeout_summary="contain_for lapse",
            )

    # --- the messages -----------------------------------------------------------------------

    def _show(self, request_id: str) -> None:
        """Update the messages in the background: a click's answer need not wait on Slack."""
        record = self._find(request_id)
        if record is None or (record.notice is None and not record.approval):
            return
        update = HoldUpdate(
            notice=record.notice.model_copy(update={"hold": record.hold}) if record.notice else None,
            notice_posted=record.notice_posted,
            approval=[u.model_copy(update={"hold": record.hold, "keep_buttons": False}) for u in record.approval],
        )
        self._showing += 1
        self._tasks.append(asyncio.create_task(self._send(update)))

    async def _send(self, update: HoldUpdate) -> None:
        try:
            await workflow.execute_activity_method(
                SlackActivities.update_hold, update, start_to_close_timeout=SLACK_TIMEOUT, retry_policy=SLACK_NOTIFY
            )
        except ActivityError as err:
            workflow.logger.warning("could not show the undo in Slack", extra={"error": activity_error_text(err)})
        finally:
            self._showing -= 1

    def _find(self, request_id: str) -> HoldRecord | None:
        return next((r for r in self.holds if r.hold.request_id == request_id), None)

    def _replace(self, record: HoldRecord) -> None:
        self.holds[:] = [record if r.hold.request_id == record.hold.request_id else r for r in self.holds]
