"""One approval round of an investigation: the request, who may decide, the votes, the schedule.

An investigation that needs a person opens an `ApprovalRound`: it learns who may decide,
posts the request to Slack, and then waits for a decision while its schedule (reminder,
escalation to a second channel, deadline: playbooks/schedule.py) runs. The `decide` update
of the investigation hands each decision to `check` (its validator: refuse before anything
reaches the history) and `vote` (count it). Every round starts with nobody allowed and no
votes: an approver of an earlier round has no say in a later one until resolved again.

Used only from workflow code: time through `workflow.now()`, side effects through activities.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as LocalBudgetSpent

with workflow.unsafe.imports_passed_through():
    import workflows.patches as patches
    from activities.deciders import DeciderActivities
    from activities.digest import DigestActivities
    from activities.retry import LOCAL_BUDGET, SLACK_NOTIFY, SLACK_POST, SLACK_TIMEOUT
    from activities.slack import SlackActivities
    from playbooks import schedule
    from playbooks.deciders import is_excluded
    from riposte.models.actions import ActionResult
    from riposte.models.common import DetectionType
    from riposte.models.digest import DigestEntry, JoinAnswer, JoinRequest
    from riposte.models.playbook import Approval, ApprovalOption
    from riposte.models.runs import (
        ApprovalPosted,
        ApprovalRequest,
        ApprovalUpdate,
        Assessment,
        DeciderCheck,
        DecisionAck,
        DecisionRequest,
        Hold,
        ThreadReminder,
    )


class Wake(Enum):
    DECIDED = "decided"
    FINDING = "finding"  # something else asked for attention (a new finding about the person)
    TICK = "tick"  # a reminder or an escalation went out
    EXPIRED = "expired"  # the deadline passed without a decision


def activity_error_text(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'error'}: {cause.message}"
    return str(cause or err)


class ApprovalRound:
    def __init__(self, request: ApprovalRequest, policy: Approval, opened: schedule.Schedule) -> None:
        self.request = request
        self.policy = policy
        self.schedule = opened
        self.allowed: set[str] = set()  # Slack ids allowed to decide, resolved for this round
        self.votes: dict[str, str] = {}  # decider -> option id
        self.names: dict[str, str] = {}  # decider -> display name
        self.via: dict[str, str] = {}  # decider -> slack | cli
        self.chosen: str | None = None
        self.posted: list[ApprovalPosted] = []
        self.digest: str | None = None  # the approval digest that stands for this request in Slack
        self.digests: dict[str, str] = {}  # decider -> the digest whose bulk button they used

    # --- the decision ---------------------------------------------------------------------

    @property
    def decided(self) -> bool:
        return self.chosen is not None

    def check(self, decision: DecisionRequest, excluded: set[str]) -> None:
        """The `decide` validator: refuse (ValueError) before anything is written to the history."""
        if self.chosen is not None:
            raise ValueError("no decision is pending on this investigation")
        if decision.request_id != self.request.request_id:
            raise ValueError("this approval request is no longer current")
        if decision.option_id not in {o.id for o in self.request.assessment.options}:
            raise ValueError(f"unknown option {decision.option_id!r}")
        if decision.via == "slack" and decision.decided_by not in self.allowed:
            raise ValueError(f"{decision.decided_by} is not allowed to decide this request")
        if decision.via == "cli" and not decision.decided_by.removeprefix("cli:").strip():
            raise ValueError("a decision from the CLI must name the operator")
        if is_excluded(decision, excluded):
            raise ValueError("the person under investigation cannot decide on it")
        if decision.decided_by in self.votes:
            raise ValueError("you have already decided on this request")

    async def confirm(self, decision: DecisionRequest) -> None:
        """What only the worker can check, at the moment of the decision: the clicker is still an
        approver, the CLI operator's proof holds, the decider was not favoured by a role change.
        Fail-closed: anything unconfirmed is refused (ApplicationError NotAllowed)."""
        try:
            verdict = await workflow.execute_local_activity_method(
                DeciderActivities.confirm,
                DeciderCheck(request=self.request, decision=decision),
                schedule_to_close_timeout=LOCAL_BUDGET,
                retry_policy=SLACK_POST,
            )
        except (ActivityError, LocalBudgetSpent) as err:
            why = activity_error_text(err) if isinstance(err, ActivityError) else str(err)
            raise ApplicationError(f"could not confirm who is deciding ({why})", type="NotAllowed") from None
        if not verdict.allowed:
            raise ApplicationError(verdict.reason, type="NotAllowed")

    def vote(self, decision: DecisionRequest) -> DecisionAck:
        if self.chosen is not None:  # lost a race with another click
            raise ApplicationError("this request has already been decided", type="AlreadyDecided")
        self.votes[decision.decided_by] = decision.option_id
        name = decision.decided_by_name or decision.decided_by
        self.names[decision.decided_by] = f"{name} via digest" if decision.via_digest else name
        if decision.via_digest:
            self.digests[decision.decided_by] = decision.via_digest
        self.via[decision.decided_by] = decision.via
        voters = [v for v, option in self.votes.items() if option == decision.option_id]
        approvals = len(voters)
        required = self.request.required_approvers
        # a two-person rule is not met by the CLI alone unless the playbook says it may be
        in_slack = any(self.via.get(v) == "slack" for v in voters)
        if approvals >= required and (required == 1 or in_slack or self.policy.cli_may_complete):
            self.chosen = decision.option_id
        return DecisionAck(
            status="decided" if self.chosen else "awaiting_more_approvers",
            option_id=decision.option_id,
            approvals=approvals,
            required=self.request.required_approvers,
        )

    def option(self) -> ApprovalOption | None:
        return next((o for o in self.request.assessment.options if o.id == self.chosen), None)

    def voters(self) -> list[str]:
        """Who chose the winning option: Slack ids, or cli:<operator>."""
        return [v for v, o in self.votes.items() if o == self.chosen]

    def decider_names(self) -> list[str]:
        return [self.names[v] for v in self.voters()]

    def via_digest(self) -> str | None:
        """The digest a winning vote came through (for the decision record's `via_digest`)."""
        return next((self.digests[v] for v in self.voters() if v in self.digests), None)

    # --- the conversation in Slack --------------------------------------------------------

    async def ask(self) -> None:
        if self._bulk_decidable() and workflow.patched(patches.APPROVAL_DIGEST):
            joined = await self._join_digest()
            if joined is not None and not joined.individual:  # the digest's message stands for it
                self.digest = joined.digest_id
                await self._resolve_approvers()
                return
        self.posted = [await self._post(self.policy.channel)]

    def _bulk_decidable(self) -> bool:
        """Protected and privileged people, and admin elevations, always get a message of their own."""
        a, user = self.request.assessment, self.request.user
        privileged = user is not None and (user.privileged or bool(user.roles))
        return not a.protected and not privileged and DetectionType.ADMIN_ELEVATION not in a.detections

    async def _join_digest(self) -> JoinAnswer | None:
        r = self.request
        user, evidence = r.user, r.evidence
        entry = DigestEntry(
            workflow_id=r.workflow_id,
            request_id=r.request_id,
            actor_id=r.actor_id,
            display_name=(user.display_name or user.login or "") if user else "",
            score=r.assessment.score,
            source_ips=evidence.source_ips[:5],
            countries=evidence.countries[:5],
            detection=r.assessment.detections[0] if r.assessment.detections else DetectionType.UNKNOWN,
            options=r.assessment.options,
            channel=r.channel,
        )
        info = workflow.info()
        try:
            return await workflow.execute_activity_method(
                DigestActivities.join,
                JoinRequest(queue=info.task_queue, playbook=r.assessment.playbook, at=workflow.now(), entry=entry),
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_POST,
            )
        except ActivityError as err:  # no digest: the request is posted on its own, as before
            workflow.logger.warning("could not join the approval digest", extra={"error": activity_error_text(err)})
            return None

    async def wait(self, interrupted: Callable[[], bool]) -> Wake:
        """Until a person decides, `interrupted()` holds, or the schedule wakes it (then does what
        is due: a reminder, an escalation) — or the deadline passes."""
        try:
            await workflow.wait_condition(
                lambda: self.chosen is not None or interrupted(),
                timeout=schedule.wait_for(self.schedule, workflow.now()),
                timeout_summary="approval deadline or reminder",
            )
        except TimeoutError:
            now = workflow.now()
            due = schedule.due(self.schedule, now)
            if due.expired:
                return Wake.EXPIRED
            if due.remind:
                await self._remind()
                delivered = any(p.ts for p in self.posted) or self.digest is not None
                # Slack was down at the ask and at the reminder too: try again one reminder later
                retry = (
                    self.policy.remind_after
                    if not delivered and self.policy.remind_after and patches.since(patches.REPOST_UNTIL_DELIVERED)
                    else None
                )
                self.schedule = schedule.after_reminder(self.schedule, now, delivered=delivered, retry_after=retry)
            if due.escalate:
                self.schedule = schedule.after_escalation(self.schedule)
                if self.digest is None:  # a digest's request is escalated by its message, not one by one
                    waited = {
                        "waited_seconds": int((now - self.schedule.started).total_seconds()),
                        "waited_in": next((p.channel for p in self.posted if p.ts), self.policy.channel),
                    }
                    self.posted.append(await self._post(self.policy.escalate_channel, waited))
            return Wake.TICK
        return Wake.DECIDED if self.chosen is not None else Wake.FINDING

    async def keep_waiting(self, why: str) -> None:
        """The deadline passed but nothing may happen without a person: wait on, say why."""
        self.schedule = schedule.without_deadline(self.schedule)
        notes = [*self.request.assessment.guard_notes, why]
        self.request = self.request.model_copy(
            update={"assessment": self.request.assessment.model_copy(update={"guard_notes": notes})}
        )
        await self.update_messages(f"No decision in {self.policy.timeout}: {why}", still_open=True)

    async def rescored(self, updated: Assessment, headline: str) -> None:
        """A new finding changed the score: the same request (same options) shows the new one."""
        merged = updated.model_copy(update={"options": self.request.assessment.options})
        self.request = self.request.model_copy(update={"assessment": merged})
        await self.update_messages(headline, still_open=True)

    async def update_messages(
        self,
        headline: str,
        deciders: list[str] | None = None,
        results: list[ActionResult] | None = None,
        *,
        still_open: bool = False,
        hold: Hold | None = None,
    ) -> list[ApprovalUpdate]:
        """Rewrite each posted message; returns what was sent (containment shows an undo on them later)."""
        sent = []
        for posted in self.posted:
            if not posted.ts:
                continue
            update = ApprovalUpdate(
                request=self.request,
                posted=posted,
                headline=headline,
                decided_by=deciders or [],
                decided_at=workflow.now() if deciders else None,
                results=results or [],
                keep_buttons=still_open,
                hold=hold,
            )
            sent.append(update)
            try:
                await workflow.execute_activity_method(
                    SlackActivities.update_approval,
                    update,
                    start_to_close_timeout=SLACK_TIMEOUT,
                    retry_policy=SLACK_NOTIFY,
                )
            except ActivityError as err:
                workflow.logger.warning("could not update the Slack message", extra={"error": activity_error_text(err)})
        return sent

    async def _remind(self) -> None:
        if self.digest is not None:  # the digest's message stands for it: no reminder one by one
            return
        if not any(p.ts for p in self.posted):  # Slack was down when we asked: ask again now
            self.posted = [await self._post(self.policy.channel)]
            return
        if workflow.patched(patches.REMINDER_IN_THREAD):  # a reply in the thread pings; an edit does not
            await self._remind_in_thread()
            return
        await self.update_messages("Reminder: still waiting for a decision", still_open=True)

    async def _remind_in_thread(self) -> None:
        """A reply in the request's thread that mentions who may decide and says how long it has waited."""
        posted = next(p for p in self.posted if p.ts)
        try:
            await workflow.execute_activity_method(
                SlackActivities.remind,
                ThreadReminder(
                    request=self.request,
                    posted=posted,
                    allowed=sorted(self.allowed),
                    waited_seconds=int((workflow.now() - self.schedule.started).total_seconds()),
                ),
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_NOTIFY,
            )
        except ActivityError as err:
            workflow.logger.warning("could not remind in Slack", extra={"error": activity_error_text(err)})

    async def _resolve_approvers(self) -> None:
        try:
            approvers = await workflow.execute_activity_method(
                SlackActivities.approvers,
                self.request,
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_POST,
            )
            self.allowed |= set(approvers.ids)
        except ActivityError as err:
            workflow.logger.warning("could not resolve approvers", extra={"error": activity_error_text(err)})

    async def _post(self, channel: str | None, waited: Mapping[str, object] | None = None) -> ApprovalPosted:
        """Post the request (to the escalation channel: with how long it has waited); if Slack stays
        down the run waits all the same (the CLI decides)."""
        if patches.since(patches.APPROVERS_BEFORE_POST):
            # learn who may decide before the buttons exist: a fast click must not be refused
            await self._resolve_approvers()
        try:
            posted = await workflow.execute_activity_method(
                SlackActivities.post_approval,
                self.request.model_copy(update={"channel": channel, **(waited or {})}),
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_POST,
            )
        except ActivityError as err:
            posted = ApprovalPosted(channel=channel or "", ts=None, error=activity_error_text(err))
        self.allowed |= set(posted.allowed_approvers)
        return posted
