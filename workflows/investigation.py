"""InvestigationWorkflow: one per actor (id `investigation-<actor id>`), fed by findings.

Alerts about the same person within the correlation window merge into one
investigation: each finding (signal `add_finding`, via signal-with-start) is scored
together with the earlier ones, so a second detection raises the score. The
investigation then acts, asks a person, notifies or only records — never asking a
second time for the same decision — and closes after a quiet period, continuing as
new if it lives long. Every decision is recorded with its factors, who decided and
what Akku answered.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as LocalBudgetSpent

with workflow.unsafe.imports_passed_through():
    from activities.akku import AkkuActivities
    from activities.decide import evaluate
    from activities.governor import GovernorActivities
    from activities.retry import AKKU_WRITE, GOVERNOR, LOCAL_BUDGET, SLACK_NOTIFY, SLACK_POST
    from activities.slack import SlackActivities
    from playbooks.decide import response_rank
    from riposte import search_attributes as sa
    from riposte.models.actions import ActionRequest, ActionResult
    from riposte.models.common import ActionKind, Response
    from riposte.models.evidence import UserRecord
    from riposte.models.governor import PermitRequest
    from riposte.models.playbook import Approval, ApprovalOption, PlaybookSnapshot
    from riposte.models.runs import (
        ApprovalPosted,
        ApprovalRequest,
        ApprovalUpdate,
        Assessment,
        DecisionAck,
        DecisionRecord,
        DecisionRequest,
        EvaluationInput,
        Finding,
        InvestigationInput,
        InvestigationOutcome,
        InvestigationState,
        InvestigationStatus,
        Notification,
    )
    from riposte.temporal import run_url

CONTINUE_AS_NEW_EVENTS = 2_000
# workflow.patched() ids: each gates one change to the command sequence (see tests/histories/)
APPROVERS_BEFORE_POST = "approvers-before-post-v1"
REPOST_UNTIL_DELIVERED = "repost-until-delivered-v1"
ACTIONS_IN_PARALLEL = "actions-in-parallel-v1"
# lean-decisions-v1 includes the three patches before it: a run that has it takes their branches
# without recording their markers (each patch also costs an upsert of TemporalChangeVersion)
LEAN_DECISIONS = "lean-decisions-v1"
SEEN_CAP = 500
DISMISS = ApprovalOption(id="dismiss", label="Dismiss as benign", actions=[])


@workflow.defn(name="InvestigationWorkflow")
class InvestigationWorkflow:
    @workflow.init
    def __init__(self, inp: InvestigationInput) -> None:
        carried = inp.carried or InvestigationState()
        self._actor = inp.actor_id
        self._options = inp.options
        self._findings: list[Finding] = list(carried.findings)
        self._seen: list[str] = list(carried.seen_finding_ids)
        self._decisions: list[DecisionRecord] = list(carried.decisions)
        self._applied: list[str] = list(carried.applied)
        self._opened_at: datetime | None = carried.opened_at
        self._inbox: list[Finding] = []
        self._assessment: Assessment | None = None
        self._stage = "assessing"
        # the approval in progress
        self._pending: ApprovalRequest | None = None
        self._posted: list[ApprovalPosted] = []
        self._allowed: set[str] = set()
        self._votes: dict[str, str] = {}  # decider -> option id
        self._voter_names: dict[str, str] = {}
        self._chosen: str | None = None
        self._search_pending: list[SearchAttributeUpdate[Any]] = []  # sent with the next stage

    # --- messages ------------------------------------------------------------------------

    @workflow.signal(name="add_finding")
    def add_finding(self, finding: Finding) -> None:
        """A finding is taken once: signal-with-start may deliver it again on a retry."""
        if finding.finding_id in self._seen or finding.evidence.actor_id != self._actor:
            return
        self._seen = [*self._seen, finding.finding_id][-SEEN_CAP:]
        self._inbox.append(finding)

    @workflow.update(name="decide")
    def decide(self, request: DecisionRequest) -> DecisionAck:
        if self._chosen is not None or self._pending is None:  # lost a race with another click
            raise ApplicationError("this request has already been decided", type="AlreadyDecided")
        self._votes[request.decided_by] = request.option_id
        self._voter_names[request.decided_by] = request.decided_by_name or request.decided_by
        approvals = sum(1 for option in self._votes.values() if option == request.option_id)
        required = self._pending.required_approvers
        if approvals >= required:
            self._chosen = request.option_id
        return DecisionAck(
            status="decided" if self._chosen else "awaiting_more_approvers",
            option_id=request.option_id,
            approvals=approvals,
            required=required,
        )

    @decide.validator
    def _check_decision(self, request: DecisionRequest) -> None:
        """Refuse before anything is written to the history."""
        pending = self._pending
        if pending is None or self._chosen is not None:
            raise ValueError("no decision is pending on this investigation")
        if request.request_id != pending.request_id:
            raise ValueError("this approval request is no longer current")
        if request.option_id not in {o.id for o in pending.assessment.options}:
            raise ValueError(f"unknown option {request.option_id!r}")
        if request.via == "slack" and request.decided_by not in self._allowed:
            raise ValueError(f"{request.decided_by} is not allowed to decide this request")
        if request.via == "cli" and not request.decided_by.removeprefix("cli:").strip():
            raise ValueError("a decision from the CLI must name the operator")
        if self._is_subject(request):
            raise ValueError("the person under investigation cannot decide on it")
        if request.decided_by in self._votes:
            raise ValueError("you have already decided on this request")

    @workflow.query(name="status")
    def status(self) -> InvestigationStatus:
        a = self._assessment
        return InvestigationStatus(
            actor_id=self._actor,
            stage=self._stage,
            score=a.score if a else None,
            detections=a.detections if a else [],
            factors=a.factors if a else [],
            playbook=a.playbook if a else None,
            pending=self._pending,
            approvals=sorted(self._votes),
            decisions=self._decisions,
        )

    # --- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: InvestigationInput) -> InvestigationOutcome:
        if self._opened_at is None:
            self._opened_at = workflow.now()
        while True:
            if not self._inbox:
                try:
                    await workflow.wait_condition(
                        lambda: bool(self._inbox),
                        timeout=self._quiet_period(),
                        timeout_summary="quiet period",
                    )
                except TimeoutError:
                    break
            await self._respond(await self._evaluate())
            info = workflow.info()
            if info.is_continue_as_new_suggested() or info.get_current_history_length() > CONTINUE_AS_NEW_EVENTS:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    InvestigationInput(actor_id=self._actor, options=self._options, carried=self._carry())
                )
        self._set_stage("closed", f"Closed after a quiet period: {self._summary()}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome()

    async def _evaluate(self) -> Assessment:
        """Merge the inbox (latest finding per detection and playbook) and score it all."""
        for finding in self._inbox:
            key = (finding.alert.detection, finding.playbook.name)
            self._findings = [f for f in self._findings if (f.alert.detection, f.playbook.name) != key]
            self._findings.append(finding)
        self._inbox = []
        assessment = await workflow.execute_local_activity(
            evaluate,
            EvaluationInput(actor_id=self._actor, findings=self._findings, now=workflow.now()),
            start_to_close_timeout=timedelta(seconds=10),
        )
        self._assessment = assessment
        workflow.upsert_search_attributes(
            [
                sa.SCORE.value_set(assessment.score),
                sa.DETECTION.value_set([d.value for d in assessment.detections]),
                sa.PLAYBOOK.value_set(assessment.playbook),
            ]
        )
        return assessment

    async def _respond(self, assessment: Assessment) -> None:
        done = max((response_rank(d.response) for d in self._decisions), default=-1)
        if response_rank(assessment.response) <= done:
            self._set_stage(self._stage, f"Score {assessment.score:.0f}; no stronger response than already taken")
            return
        if assessment.response is Response.ACT:
            await self._act_automatically(assessment)
        elif assessment.response is Response.APPROVE:
            await self._ask(assessment, note="")
        elif assessment.response is Response.NOTIFY:
            if workflow.patched(LEAN_DECISIONS):  # the decision and the stage in one upsert
                self._record(assessment, "notified", Response.NOTIFY, "policy")
                self._set_stage("notified", f"Score {assessment.score:.0f}: team notified, no action")
                await self._notify(f"FYI: {self._describe(assessment)}", assessment, [])
                return
            self._set_stage("notified", f"Score {assessment.score:.0f}: team notified, no action")
            await self._notify(f"FYI: {self._describe(assessment)}", assessment, [])
            self._record(assessment, "notified", Response.NOTIFY, "policy")
        elif workflow.patched(LEAN_DECISIONS):
            self._record(assessment, "observed", Response.OBSERVE, "policy")
            self._set_stage("observed", f"Score {assessment.score:.0f}: recorded, no action")
        else:
            self._set_stage("observed", f"Score {assessment.score:.0f}: recorded, no action")
            self._record(assessment, "observed", Response.OBSERVE, "policy")

    # --- automatic actions ---------------------------------------------------------------

    async def _act_automatically(self, assessment: Assessment) -> None:
        if not self._dry_run(assessment):
            permit = await workflow.execute_activity_method(
                GovernorActivities.acquire_permit,
                PermitRequest(
                    key=f"{self._key_base()}:{len(self._decisions)}",
                    limit=assessment.action_limit,
                    window_seconds=assessment.action_window_seconds,
                    requested_by=workflow.info().workflow_id,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=GOVERNOR,
            )
            if not permit.granted:
                window = timedelta(seconds=permit.window_seconds)
                note = (
                    f"automatic-action limit reached ({permit.used_in_window} of {permit.limit} "
                    f"in {window}): escalated to a person instead of acting"
                )
                await self._ask(assessment, note=note)
                return
        self._set_stage("acting", f"Score {assessment.score:.0f}: applying {self._names(assessment.actions)}")
        results = await self._apply(assessment.actions, assessment)
        label = "dry_run" if self._dry_run(assessment) else "acted"
        self._record(assessment, label, Response.ACT, "policy", actions=assessment.actions, results=results)
        self._set_stage(label, f"Score {assessment.score:.0f}: {self._results_text(results)}")
        await self._notify(f"Acted automatically: {self._describe(assessment)}", assessment, results)

    async def _apply(self, actions: list[ActionKind], assessment: Assessment) -> list[ActionResult]:
        """Each action once: its idempotency key is the investigation, the decision and the action.

        The actions are independent writes to Akku, so they run together (one workflow task
        for all of them rather than one each); results keep the playbook's order.
        """
        if self._patched(ACTIONS_IN_PARALLEL):
            return list(await asyncio.gather(*(self._apply_one(action, assessment) for action in actions)))
        return [await self._apply_one(action, assessment) for action in actions]

    async def _apply_one(self, action: ActionKind, assessment: Assessment) -> ActionResult:
        target = assessment.role_target if action is ActionKind.REVOKE_ROLE else self._actor
        target = target or self._actor
        key = f"{self._key_base()}:{len(self._decisions)}:{action.value}"
        if self._dry_run(assessment):
            return ActionResult(actor_id=target, action=action, status="dry_run", detail="dry run")
        if key in self._applied:
            return ActionResult(actor_id=target, action=action, status="skipped", detail="done before")
        try:
            result = await workflow.execute_activity_method(
                AkkuActivities.apply_action,
                ActionRequest(
                    actor_id=target,
                    action=action,
                    reason=f"Riposte {assessment.playbook}: score {assessment.score:.0f}",
                    reference=workflow.info().workflow_id,
                    idempotency_key=key,
                    role=assessment.role if action is ActionKind.REVOKE_ROLE else None,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=AKKU_WRITE,
            )
        except ActivityError as err:
            cause = err.cause
            kind = cause.type if isinstance(cause, ApplicationError) and cause.type else "error"
            message = cause.message if isinstance(cause, ApplicationError) else str(err)
            return ActionResult(actor_id=target, action=action, status="failed", detail=f"{kind}: {message}")
        self._applied.append(key)
        return result

    # --- asking a person -----------------------------------------------------------------

    async def _ask(self, assessment: Assessment, *, note: str) -> None:
        snapshot = self._playbook(assessment.playbook)
        policy = snapshot.playbook.approval if snapshot else Approval()
        if note:
            assessment = assessment.model_copy(update={"guard_notes": [*assessment.guard_notes, note]})
        if not assessment.options:
            assessment = assessment.model_copy(update={"options": self._default_options(assessment)})
        started = workflow.now()
        deadline = None if policy.on_timeout == "keep_waiting" else started + policy.timeout
        request = ApprovalRequest(
            request_id=f"{len(self._decisions) + 1}-{str(workflow.uuid4())[:8]}",
            workflow_id=workflow.info().workflow_id,
            run_ui_url=self._run_url(),
            actor_id=self._actor,
            user=self._user(),
            assessment=assessment,
            evidence=self._latest().evidence,
            siem_url=self._latest().alert.siem_url,
            channel=policy.channel,
            approvers=policy.approvers,
            approver_group=policy.approver_group,
            required_approvers=policy.required_approvers,
            expires_at=deadline or started + timedelta(days=7),
            dry_run=self._dry_run(assessment),
        )
        self._pending, self._votes, self._voter_names, self._chosen = request, {}, {}, None
        self._set_stage("waiting_for_approval", f"Score {assessment.score:.0f}: waiting for a person to decide")
        self._posted = [await self._post(request, policy.channel)]

        reminded = escalated = False
        remind_at = started + policy.remind_after if policy.remind_after else None
        while self._chosen is None:
            now = workflow.now()
            ticks = [t for t in (deadline,) if t is not None]
            if remind_at and not reminded:
                ticks.append(remind_at)
            if policy.escalate_channel and policy.escalate_after and not escalated:
                ticks.append(started + policy.escalate_after)
            wake = min(ticks) if ticks else None
            try:
                await workflow.wait_condition(
                    lambda: self._chosen is not None or bool(self._inbox),
                    timeout=max(wake - now, timedelta(seconds=1)) if wake else None,
                    timeout_summary="approval deadline or reminder",
                )
            except TimeoutError:
                now = workflow.now()
                if deadline is not None and now >= deadline:
                    break
                if remind_at and not reminded and now >= remind_at:
                    reminded = True
                    await self._remind(request, policy)
                    delivered = any(p.ts for p in self._posted)
                    if not delivered and policy.remind_after and self._patched(REPOST_UNTIL_DELIVERED):
                        # Slack was down at the reminder too: try again one reminder interval later
                        reminded, remind_at = False, now + policy.remind_after
                if (
                    policy.escalate_channel
                    and policy.escalate_after
                    and not escalated
                    and now >= started + policy.escalate_after
                ):
                    escalated = True
                    self._posted.append(await self._post(request, policy.escalate_channel))
                continue
            if self._chosen is None and self._inbox:
                # a new alert about the same person: re-score, update the same request, never ask twice
                updated = await self._evaluate()
                merged = updated.model_copy(update={"options": request.assessment.options})
                request = request.model_copy(update={"assessment": merged})
                self._pending = request
                await self._update_messages(
                    request, f"Updated: score now {updated.score:.0f} ({self._detections(updated)})", still_open=True
                )
        await self._conclude(request, policy)

    async def _conclude(self, request: ApprovalRequest, policy: Approval) -> None:
        assessment = request.assessment
        voters = [v for v, o in self._votes.items() if o == self._chosen]  # Slack ids or cli:<name>
        deciders = [self._voter_names[v] for v in voters]
        self._pending = None
        if self._chosen is not None:
            option = next(o for o in assessment.options if o.id == self._chosen)
            label = "approved" if option.actions else "dismissed"
            self._set_stage("acting", f"{', '.join(deciders)} chose '{option.label}'")
            results = await self._apply(option.actions, assessment)
            record = self._record(
                assessment, label, Response.APPROVE, ", ".join(deciders), option.id, option.actions, results
            )
            headline = f"{option.label}: decided by {', '.join(deciders)}"
        elif policy.on_timeout == "act" and not assessment.protected and policy.fallback_actions:
            self._set_stage("acting", "No decision in time: applying the playbook's fallback")
            results = await self._apply(policy.fallback_actions, assessment)
            record = self._record(
                assessment,
                "timed_out",
                Response.APPROVE,
                "policy (timeout)",
                actions=policy.fallback_actions,
                results=results,
                note=f"no decision in {policy.timeout}: fell back to {self._names(policy.fallback_actions)}",
            )
            headline = f"No decision in {policy.timeout}: fell back to {self._names(policy.fallback_actions)}"
        else:
            why = " (protected account: no automatic fallback)" if assessment.protected else ""
            record = self._record(
                assessment,
                "timed_out",
                Response.APPROVE,
                "policy (timeout)",
                note=f"no decision in {policy.timeout}: dismissed{why}",
            )
            headline = f"No decision in {policy.timeout}: dismissed without action{why}"
        self._set_stage(record.label, f"{headline}; {self._results_text(record.results)}")
        await self._update_messages(request, headline, voters, record.results)

    async def _post(self, request: ApprovalRequest, channel: str | None) -> ApprovalPosted:
        """Post the request; if Slack stays down the run waits all the same (CLI decides)."""
        if self._patched(APPROVERS_BEFORE_POST):
            # learn who may decide before the buttons exist: a fast click must not be refused
            try:
                approvers = await workflow.execute_activity_method(
                    SlackActivities.approvers,
                    request,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=SLACK_POST,
                )
                self._allowed |= set(approvers.ids)
            except ActivityError as err:
                workflow.logger.warning("could not resolve approvers", extra={"error": self._error_text(err)})
        try:
            posted = await workflow.execute_activity_method(
                SlackActivities.post_approval,
                request.model_copy(update={"channel": channel}),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=SLACK_POST,
            )
        except ActivityError as err:
            posted = ApprovalPosted(channel=channel or "", ts=None, error=self._error_text(err))
        self._allowed |= set(posted.allowed_approvers)
        return posted

    async def _remind(self, request: ApprovalRequest, policy: Approval) -> None:
        if not any(p.ts for p in self._posted):  # Slack was down when we asked: ask again now
            self._posted = [await self._post(request, policy.channel)]
            return
        await self._update_messages(request, "Reminder: still waiting for a decision", still_open=True)

    async def _update_messages(
        self,
        request: ApprovalRequest,
        headline: str,
        deciders: list[str] | None = None,
        results: list[ActionResult] | None = None,
        *,
        still_open: bool = False,
    ) -> None:
        for posted in self._posted:
            if not posted.ts:
                continue
            try:
                await workflow.execute_activity_method(
                    SlackActivities.update_approval,
                    ApprovalUpdate(
                        request=request,
                        posted=posted,
                        headline=headline,
                        decided_by=deciders or [],
                        decided_at=workflow.now() if deciders else None,
                        results=results or [],
                        keep_buttons=still_open,
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=SLACK_NOTIFY,
                )
            except ActivityError as err:
                workflow.logger.warning("could not update the Slack message", extra={"error": self._error_text(err)})

    async def _notify(self, headline: str, assessment: Assessment, results: list[ActionResult]) -> None:
        notification = Notification(
            actor_id=self._actor,
            headline=headline,
            assessment=assessment,
            user=self._user(),
            results=results,
            run_ui_url=self._run_url(),
        )
        if workflow.patched(LEAN_DECISIONS):
            # a short post: a local activity in the workflow task that records the decision rather
            # than a task of its own; if Slack is slow or down it falls back to an activity, so a
            # stopping worker never waits on Slack for longer than the budget
            try:
                await workflow.execute_local_activity_method(
                    SlackActivities.notify,
                    notification,
                    schedule_to_close_timeout=LOCAL_BUDGET,
                    retry_policy=SLACK_NOTIFY,
                )
                return
            except (ActivityError, LocalBudgetSpent) as err:  # live: ActivityError; replayed: TimeoutError
                why = self._error_text(err) if isinstance(err, ActivityError) else str(err)
                workflow.logger.info("local Slack notice failed; retrying as an activity: %s", why)
        try:
            await workflow.execute_activity_method(
                SlackActivities.notify,
                notification,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=SLACK_NOTIFY,
            )
        except ActivityError as err:
            workflow.logger.warning("could not notify Slack", extra={"error": self._error_text(err)})

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _patched(patch_id: str) -> bool:
        """An earlier patch's branch: taken by runs with lean-decisions-v1 or with the patch itself."""
        return workflow.patched(LEAN_DECISIONS) or workflow.patched(patch_id)

    def _is_subject(self, request: DecisionRequest) -> bool:
        user = self._user()
        names = {self._actor.lower()}
        if user:
            names |= {n.lower() for n in (user.email, user.login) if n}
        who = {request.decided_by.removeprefix("cli:").lower(), request.decided_by_name.lower()}
        if request.decided_by_email:
            who.add(request.decided_by_email.lower())
        return bool(names & who)

    def _record(
        self,
        assessment: Assessment,
        label: str,
        response: Response,
        decided_by: str,
        option_id: str | None = None,
        actions: list[ActionKind] | None = None,
        results: list[ActionResult] | None = None,
        note: str = "",
    ) -> DecisionRecord:
        record = DecisionRecord(
            at=workflow.now(),
            label=label,
            response=response,
            score=assessment.score,
            decided_by=decided_by,
            option_id=option_id,
            actions=actions or [],
            results=results or [],
            note=note or "; ".join(assessment.guard_notes),
        )
        self._decisions.append(record)
        if workflow.patched(LEAN_DECISIONS):
            self._search_pending.append(sa.DECISION.value_set(label))  # every record is followed by a stage
        else:
            workflow.upsert_search_attributes([sa.DECISION.value_set(label)])
        return record

    def _set_stage(self, stage: str, details: str) -> None:
        updates, self._search_pending = self._search_pending, []
        if stage != self._stage:
            self._stage = stage
            updates.append(sa.STAGE.value_set(stage))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(details)

    def _quiet_period(self) -> timedelta:
        windows = [f.playbook.playbook.correlation_window for f in self._findings]
        return max(windows, default=timedelta(hours=1))

    def _dry_run(self, assessment: Assessment) -> bool:
        snapshot = self._playbook(assessment.playbook)
        return self._options.dry_run or bool(snapshot and snapshot.playbook.dry_run)

    def _playbook(self, name: str) -> PlaybookSnapshot | None:
        return next((f.playbook for f in reversed(self._findings) if f.playbook.name == name), None)

    def _latest(self) -> Finding:
        return self._findings[-1]

    def _user(self) -> UserRecord | None:
        return next((f.evidence.user for f in reversed(self._findings) if f.evidence.user), None)

    def _key_base(self) -> str:
        """Unique per investigation, stable across retries, replays and continue-as-new."""
        return f"{workflow.info().workflow_id}/{workflow.info().first_execution_run_id[:8]}"

    def _run_url(self) -> str | None:
        return run_url(self._options.ui_url, self._options.namespace, workflow.info().workflow_id)

    def _default_options(self, assessment: Assessment) -> list[ApprovalOption]:
        actions = assessment.actions or [ActionKind.LOCK]
        approve = ApprovalOption(
            id="approve", label=f"Approve: {self._names(actions)}"[:75], actions=actions, style="danger", confirm=True
        )
        return [approve, DISMISS]

    def _carry(self) -> InvestigationState:
        return InvestigationState(
            findings=self._findings,
            seen_finding_ids=self._seen,
            decisions=self._decisions,
            applied=self._applied,
            opened_at=self._opened_at,
        )

    def _outcome(self) -> InvestigationOutcome:
        a = self._assessment
        last = self._decisions[-1] if self._decisions else None
        return InvestigationOutcome(
            actor_id=self._actor,
            detections=a.detections if a else [],
            score=a.score if a else 0.0,
            factors=a.factors if a else [],
            decision=last.label if last else "observed",
            decided_by=last.decided_by if last else "policy",
            actions=[r for d in self._decisions for r in d.results],
            findings=len(self._seen),
            opened_at=self._opened_at or workflow.now(),
            closed_at=workflow.now(),
            dry_run=self._options.dry_run,
        )

    def _summary(self) -> str:
        last = self._decisions[-1] if self._decisions else None
        return f"{last.label} at score {last.score:.0f}" if last else "no finding"

    @staticmethod
    def _names(actions: list[ActionKind]) -> str:
        return ", ".join(a.value.replace("_", " ") for a in actions) or "no action"

    @staticmethod
    def _detections(assessment: Assessment) -> str:
        return ", ".join(d.value.replace("_", " ") for d in assessment.detections)

    def _describe(self, assessment: Assessment) -> str:
        return f"{self._actor}: {self._detections(assessment)}, score {assessment.score:.0f}"

    @staticmethod
    def _results_text(results: list[ActionResult]) -> str:
        return ", ".join(f"{r.action.value} {r.status}" for r in results) or "no action taken"

    @staticmethod
    def _error_text(err: ActivityError) -> str:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return f"{cause.type or 'error'}: {cause.message}"
        return str(cause or err)
