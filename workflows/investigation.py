"""InvestigationWorkflow: one per actor (id `investigation-<actor id>`), fed by findings.

The playbook's story for one person: take findings (alerts about the same person within
the correlation window merge, so a second detection raises the score), evaluate them,
respond — act, ask a person, notify or only record, never asking a second time for the
same decision — record every decision with its factors, who decided and what Akku
answered, and close after a quiet period, continuing as new if it lives long. Asking a
person is an approval round of its own (workflows/approval.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.patches as patches
    from activities.decide import ScoringActivities
    from activities.retry import LOCAL_MAX_PEOPLE, SCORING, SCORING_TIMEOUT
    from playbooks import schedule
    from playbooks import wording as say
    from playbooks.decide import default_options, response_rank
    from playbooks.deciders import names_of
    from riposte import search_attributes as sa
    from riposte.models.actions import ActionResult
    from riposte.models.common import ActionKind, Response
    from riposte.models.runs import (
        ADD_FINDING,
        DECIDE,
        STATUS,
        UNDO,
        ApprovalRequest,
        Assessment,
        DecisionAck,
        DecisionLabel,
        DecisionRequest,
        EvaluationInput,
        Finding,
        Hold,
        InvestigationInput,
        InvestigationOutcome,
        InvestigationState,
        InvestigationStatus,
        Notification,
        Stage,
        UndoAck,
    )
    from riposte.temporal import run_url
    from workflows.actions import Writes, key_base, notify, permit
    from workflows.approval import ApprovalRound, Wake
    from workflows.case import Case
    from workflows.containment import Containment
    from workflows.ledger import Ledger
    from workflows.offer import CLOSED, DECIDED, SUPERSEDED, Offer, carried_offer, carry, chosen, end_offer, open_offer

REQUEST_LIFETIME = timedelta(days=7)  # how long an open-ended request's buttons say they last


@workflow.defn(name="InvestigationWorkflow")
class InvestigationWorkflow:
    @workflow.init
    def __init__(self, inp: InvestigationInput) -> None:
        carried = inp.carried or InvestigationState()
        self._actor = inp.actor_id
        self._options = inp.options
        self._case = Case(self._actor, list(carried.findings), list(carried.seen_finding_ids))
        self._ledger = Ledger(list(carried.decisions), carried.stage or Stage.ASSESSING)
        self._writes = Writes(self._actor, list(carried.applied))
        self._containment = Containment(self._actor, list(carried.holds), self._case, self._ledger, self._writes)
        self._opened_at: datetime | None = carried.opened_at
        self._inbox: list[Finding] = []
        self._assessment: Assessment | None = carried.assessment
        self._round: ApprovalRound | None = None  # a person is being asked
        self._lean = False  # lean-acting-v1, learnt when the run starts
        self._offer: Offer | None = carried_offer(self._case, carried)

    # --- messages ------------------------------------------------------------------------

    @workflow.signal(name=ADD_FINDING)
    def add_finding(self, finding: Finding) -> None:
        """A finding is taken once: signal-with-start may deliver it again on a retry."""
        if self._case.take(finding):
            self._inbox.append(finding)

    @workflow.update(name=DECIDE)
    async def decide(self, request: DecisionRequest) -> DecisionAck:
        approval = self._pending()
        if approval is not None and workflow.patched(patches.DECIDE_CONFIRMS_DECIDER):
            await approval.confirm(request)  # raises NotAllowed: still an approver, the operator's proof
        if approval is None or self._pending() is not approval:  # lost a race with another click, or closed
            why = approval.why_closed if isinstance(approval, Offer) else ""
            raise ApplicationError(why or "this request has already been decided", type="AlreadyDecided")
        return approval.vote(request)

    @decide.validator
    def _check_decision(self, request: DecisionRequest) -> None:
        """Refuse before anything is written to the history."""
        pending = self._pending()
        if pending is None:
            offer = self._offer
            if offer is not None and offer.request.request_id == request.request_id:
                raise ValueError(offer.why_closed)
            raise ValueError("no decision is pending on this investigation")
        excluded = names_of(self._actor, self._case.user())
        if pending.request.assessment.role_target:  # nobody decides on a role they were given
            excluded.add(pending.request.assessment.role_target.lower())
        pending.check(request, excluded=excluded)

    def _pending(self) -> ApprovalRound | None:
        """The round a decision is for: a request being asked, or an FYI's open offer."""
        offer = self._offer if self._offer is not None and self._offer.open else None
        return self._round or offer

    @workflow.update(name=UNDO)
    async def undo(self, request: DecisionRequest) -> UndoAck:
        """Undo (unlock) or Keep locked: workflows/containment.py."""
        return await self._containment.decide(request)

    @undo.validator
    def _check_undo(self, request: DecisionRequest) -> None:
        self._containment.check(request, excluded=names_of(self._actor, self._case.user()))

    @workflow.query(name=STATUS)
    def status(self) -> InvestigationStatus:
        a, pending = self._assessment, self._round
        return InvestigationStatus(
            actor_id=self._actor,
            stage=self._ledger.stage,
            score=a.score if a else None,
            detections=a.detections if a else [],
            factors=a.factors if a else [],
            playbook=a.playbook if a else None,
            pending=pending.request if pending else None,
            approvals=sorted(pending.votes) if pending else [],
            offer=self._offer.request if self._offer is not None and self._offer.open else None,
            decisions=self._ledger.decisions,
            holds=self._containment.listed(),
        )

    # --- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: InvestigationInput) -> InvestigationOutcome:
        self._lean = workflow.patched(patches.LEAN_ACTING)
        if self._opened_at is None:
            self._opened_at = workflow.now()
        self._containment.resume()
        while True:
            if not self._inbox:
                try:
                    await workflow.wait_condition(
                        lambda: bool(self._inbox) or chosen(self._offer),
                        timeout=self._case.quiet_period(),
                        timeout_summary="quiet period",
                    )
                except TimeoutError:
                    if not await self._containment.held_open(lambda: bool(self._inbox) or chosen(self._offer)):
                        break  # a time-boxed lock keeps the run open until it lapses
            if chosen(self._offer):
                await end_offer(self._offer, DECIDED, "", self._conclude)
            if self._inbox:
                await self._respond(await self._evaluate())
            info = workflow.info()
            if (
                info.is_continue_as_new_suggested()
                or info.get_current_history_length() > self._options.continue_as_new_after
            ):
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self._containment.settled())
                if chosen(self._offer):  # chosen meanwhile: applied first, never lost to the new run
                    continue
                workflow.continue_as_new(
                    InvestigationInput(actor_id=self._actor, options=self._options, carried=self._carry())
                )
        await end_offer(self._offer, CLOSED, "Closed: nobody chose in time; nothing was changed", self._conclude)
        self._ledger.set_stage(
            Stage.CLOSED,
            f"Closed after a quiet period: {say.summary(self._ledger.decisions)}",
            passing=self._lean,  # the run's status says it closed; its stage keeps the last decision's
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome()

    async def _evaluate(self) -> Assessment:
        """Merge the inbox (latest finding per detection and playbook) and score it all."""
        self._case.merge(self._inbox)
        self._inbox = []
        assessment = await workflow.execute_local_activity_method(
            ScoringActivities.evaluate,
            EvaluationInput(actor_id=self._actor, findings=self._case.findings, now=workflow.now()),
            start_to_close_timeout=SCORING_TIMEOUT,
            retry_policy=SCORING,
        )
        self._assessment = assessment
        scored: list[SearchAttributeUpdate[Any]] = [
            sa.SCORE.value_set(assessment.score),
            sa.DETECTION.value_set([d.value for d in assessment.detections]),
            sa.PLAYBOOK.value_set(assessment.playbook),
        ]
        if self._lean:  # with the decision's stage, in one upsert
            self._ledger.defer(scored)
        else:
            workflow.upsert_search_attributes(scored)
        return assessment

    async def _respond(self, assessment: Assessment) -> None:
        if chosen(self._offer) or response_rank(assessment.response) > response_rank(Response.NOTIFY):
            await end_offer(self._offer, SUPERSEDED, f"Superseded: score now {assessment.score:.0f}", self._conclude)
        done = max((response_rank(d.response) for d in self._ledger.decisions), default=-1)
        if response_rank(assessment.response) <= done:
            self._ledger.set_stage(
                self._ledger.stage, f"Score {assessment.score:.0f}; no stronger response than already taken"
            )
            return
        if assessment.response is Response.ACT:
            await self._act_automatically(assessment)
        elif assessment.response is Response.APPROVE:
            await self._ask(assessment, note="")
        elif assessment.response is Response.NOTIFY:
            details = f"Score {assessment.score:.0f}: team notified, no action"
            if patches.since(patches.LEAN_DECISIONS):  # the decision and the stage in one upsert
                self._ledger.record(assessment, DecisionLabel.NOTIFIED, Response.NOTIFY, "policy")
                self._ledger.set_stage(Stage.NOTIFIED, details)
                if assessment.offer and workflow.patched(patches.ACTIONABLE_NOTIFY):
                    dry_run = self._case.dry_run(assessment, self._options)
                    self._offer = await open_offer(self._case, assessment, self._run_url(), dry_run=dry_run)
                    return
                await self._notify(f"FYI: {say.describe(self._actor, assessment)}", assessment, [])
                return
            self._ledger.set_stage(Stage.NOTIFIED, details)
            await self._notify(f"FYI: {say.describe(self._actor, assessment)}", assessment, [])
            self._ledger.record(assessment, DecisionLabel.NOTIFIED, Response.NOTIFY, "policy")
        elif patches.since(patches.LEAN_DECISIONS):
            self._ledger.record(assessment, DecisionLabel.OBSERVED, Response.OBSERVE, "policy")
            self._ledger.set_stage(Stage.OBSERVED, f"Score {assessment.score:.0f}: recorded, no action")
        else:
            self._ledger.set_stage(Stage.OBSERVED, f"Score {assessment.score:.0f}: recorded, no action")
            self._ledger.record(assessment, DecisionLabel.OBSERVED, Response.OBSERVE, "policy")

    # --- automatic actions ---------------------------------------------------------------

    async def _act_automatically(self, assessment: Assessment) -> None:
        if not self._case.dry_run(assessment, self._options):
            answer = await permit(f"{key_base()}:{len(self._ledger.decisions)}", assessment, local=self._local())
            if not answer.granted:
                await self._ask(assessment, note=say.refusal_note(answer), automatic_refused=True)
                return
        self._ledger.set_stage(
            Stage.ACTING,
            f"Score {assessment.score:.0f}: applying {say.action_names(assessment.actions)}",
            passing=self._lean,  # acted on in this same workflow task: the stage after it is upserted
        )
        results = await self._apply_actions(assessment.actions, assessment)
        label = DecisionLabel.DRY_RUN if self._case.dry_run(assessment, self._options) else DecisionLabel.ACTED
        self._ledger.record(assessment, label, Response.ACT, "policy", actions=assessment.actions, results=results)
        self._ledger.set_stage(Stage(label), f"Score {assessment.score:.0f}: {say.results_text(results)}")
        hold = self._containment.hold(assessment, results, response=Response.ACT)
        await self._notify(f"Acted automatically: {say.describe(self._actor, assessment)}", assessment, results, hold)

    async def _apply_actions(self, actions: list[ActionKind], assessment: Assessment) -> list[ActionResult]:
        dry_run = self._case.dry_run(assessment, self._options)
        return await self._writes.apply(
            actions, assessment, decision=len(self._ledger.decisions), dry_run=dry_run, local=self._local()
        )

    # --- asking a person -----------------------------------------------------------------

    async def _ask(self, assessment: Assessment, *, note: str, automatic_refused: bool = False) -> None:
        policy = self._case.policy(assessment)
        if note:
            assessment = assessment.model_copy(update={"guard_notes": [*assessment.guard_notes, note]})
        if not assessment.options:
            assessment = assessment.model_copy(update={"options": default_options(assessment.actions)})
        opened = schedule.opened(policy, workflow.now())
        request = ApprovalRequest(
            request_id=f"{len(self._ledger.decisions) + 1}-{str(workflow.uuid4())[:8]}",
            workflow_id=workflow.info().workflow_id,
            run_ui_url=self._run_url(),
            actor_id=self._actor,
            user=self._case.user(),
            assessment=assessment,
            evidence=self._case.latest().evidence,
            siem_url=self._case.latest().alert.siem_url,
            channel=policy.channel,
            approvers=policy.approvers,
            approver_group=policy.approver_group,
            required_approvers=policy.required_approvers,
            expires_at=opened.deadline or opened.started + REQUEST_LIFETIME,
            dry_run=self._case.dry_run(assessment, self._options),
            automatic_refused=automatic_refused,
        )
        self._round = approval = ApprovalRound(request, policy, opened)
        self._ledger.set_stage(
            Stage.WAITING_FOR_APPROVAL, f"Score {assessment.score:.0f}: waiting for a person to decide"
        )
        await approval.ask()
        while not approval.decided:
            wake = await approval.wait(lambda: bool(self._inbox))
            if wake is Wake.EXPIRED:
                if await self._may_conclude(approval):
                    break
                continue
            if wake is Wake.FINDING:  # a new alert about the same person: re-score, same request, never ask twice
                updated = await self._evaluate()
                if self._lean:
                    self._ledger.publish()  # no stage follows: the new score goes out now
                await approval.rescored(
                    updated, f"Updated: score now {updated.score:.0f} ({say.detection_names(updated)})"
                )
        await self._conclude(approval)

    async def _may_conclude(self, approval: ApprovalRound) -> bool:
        """Nobody decided in time. A fallback that writes is an automatic write like any other: it
        takes a permit, and never follows an escalation caused by a refused one. Without a permit
        the run keeps waiting for a person."""
        policy, assessment = approval.policy, approval.request.assessment
        writes = policy.on_timeout == "act" and not assessment.protected and bool(policy.fallback_actions)
        if (
            not writes
            or self._case.dry_run(assessment, self._options)
            or not workflow.patched(patches.FALLBACK_TAKES_A_PERMIT)
        ):
            return True
        if approval.request.automatic_refused:
            why = "no automatic fallback after an automatic action was refused; waiting for a person"
        else:
            answer = await permit(f"{key_base()}:{len(self._ledger.decisions)}:fallback", assessment)
            if answer.granted:
                return True
            why = say.refusal_note(answer).replace("escalated to a person instead of acting", "waiting for a person")
        await approval.keep_waiting(why)
        self._ledger.set_stage(self._ledger.stage, f"Score {assessment.score:.0f}: {why}")
        return False

    async def _conclude(self, approval: ApprovalRound) -> None:
        assessment, policy = approval.request.assessment, approval.policy
        voters, deciders = approval.voters(), approval.decider_names()
        self._round = None
        option = approval.option()
        if option is not None:
            label = DecisionLabel.APPROVED if option.actions else DecisionLabel.DISMISSED
            self._ledger.set_stage(Stage.ACTING, f"{', '.join(deciders)} chose '{option.label}'")
            results = await self._apply_actions(option.actions, assessment)
            record = self._ledger.record(
                assessment,
                label,
                Response.APPROVE,
                ", ".join(deciders),
                option.id,
                option.actions,
                results,
                via_digest=approval.via_digest(),
            )
            headline = f"{option.label}: decided by {', '.join(deciders)}"
        elif policy.on_timeout == "act" and not assessment.protected and policy.fallback_actions:
            fallback = say.action_names(policy.fallback_actions)
            self._ledger.set_stage(Stage.ACTING, "No decision in time: applying the playbook's fallback")
            results = await self._apply_actions(policy.fallback_actions, assessment)
            record = self._ledger.record(
                assessment,
                DecisionLabel.TIMED_OUT,
                Response.APPROVE,
                "policy (timeout)",
                actions=policy.fallback_actions,
                results=results,
                note=f"no decision in {policy.timeout}: fell back to {fallback}",
            )
            headline = f"No decision in {policy.timeout}: fell back to {fallback}"
        else:
            why = " (protected account: no automatic fallback)" if assessment.protected else ""
            record = self._ledger.record(
                assessment,
                DecisionLabel.TIMED_OUT,
                Response.APPROVE,
                "policy (timeout)",
                note=f"no decision in {policy.timeout}: dismissed{why}",
            )
            headline = f"No decision in {policy.timeout}: dismissed without action{why}"
        self._ledger.set_stage(Stage(record.label), f"{headline}; {say.results_text(record.results)}")
        hold = self._containment.hold(
            assessment, record.results, response=Response.APPROVE, allowed=sorted(approval.allowed)
        )
        sent = await approval.update_messages(headline, voters, record.results, hold=hold)
        self._containment.shown(hold, approval=sent)

    async def _notify(
        self, headline: str, assessment: Assessment, results: list[ActionResult], hold: Hold | None = None
    ) -> None:
        notice = Notification(
            actor_id=self._actor,
            headline=headline,
            assessment=assessment,
            user=self._case.user(),
            results=results,
            run_ui_url=self._run_url(),
            hold=hold,
        )
        self._containment.shown(hold, notice=notice, posted=await notify(notice))

    # --- the record ----------------------------------------------------------------------

    def _carry(self) -> InvestigationState:
        return InvestigationState(
            findings=self._case.findings,
            seen_finding_ids=self._case.seen,
            decisions=self._ledger.decisions,
            applied=self._writes.applied,
            opened_at=self._opened_at,
            assessment=self._assessment,
            stage=self._ledger.stage,
            **carry(self._offer),
            holds=self._containment.holds,
        )

    def _outcome(self) -> InvestigationOutcome:
        return self._ledger.outcome(
            self._actor, self._assessment, len(self._case.seen), self._opened_at, dry_run=self._options.dry_run
        )

    def _local(self) -> bool:
        """lean-acting-v1: the permit and the writes as local activities, for an alert about a few
        people; a storm's investigations take activities, as their alert run does."""
        return self._lean and self._case.latest().context.actor_count <= LOCAL_MAX_PEOPLE

    def _run_url(self) -> str | None:
        return run_url(self._options.ui_url, self._options.namespace, workflow.info().workflow_id)
