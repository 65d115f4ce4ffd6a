"""DigestWorkflow: one Slack message for a wave of approval requests (id `riposte-digest/<queue>/<playbook>/<window>`).

Investigations join with an update-with-start from an activity (activities/digest.py), so
each learns at once whether to post its own request (the first `INDIVIDUAL_LIMIT`) or to
leave it to the digest. From the next join on the digest posts one message — how many, which
detection, the score range, what they share, the first names — and keeps it current.

Its buttons reach `decide_all` through the gateway: the click is recorded here before Slack
gets its 200, and the run then sends every open request the investigation's own `decide`
update (an activity), so each person's validator — allowed approver, two-person rule, the
person under investigation, stale requests — has its say. The message shows what became of
each: acted on, refused and why, still waiting. The digest closes once its window is over and
every request in it is decided; it continues as new if its history grows.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.digest import DigestActivities
    from activities.retry import SLACK_NOTIFY, SLACK_POST, SLACK_TIMEOUT
    from activities.slack import SlackActivities
    from riposte.models.digest import (
        DECIDE_ALL,
        DECIDED,
        DIGEST_STATUS,
        INDIVIDUAL_LIMIT,
        JOIN,
        BulkAck,
        BulkDecision,
        BulkTarget,
        Choice,
        DecideMany,
        DecideManyResult,
        DigestEntry,
        DigestInput,
        DigestPosted,
        DigestState,
        DigestStatus,
        EntryOutcome,
        JoinAnswer,
        StillPending,
        ThreadPost,
        summarise,
    )
    from workflows.approval import activity_error_text

CONTINUE_AS_NEW_EVENTS = 5_000
BATCH = 100  # requests decided by one activity
CHECK_EVERY = timedelta(minutes=1)  # how often open requests are asked whether they still wait
SETTLE = timedelta(seconds=2)  # joins arriving together make one update of the message
DECIDE_TIMEOUT = timedelta(minutes=5)
DECIDE_HEARTBEAT = timedelta(seconds=30)


@workflow.defn(name="DigestWorkflow")
class DigestWorkflow:
    @workflow.init
    def __init__(self, inp: DigestInput) -> None:
        carried = inp.carried or DigestState()
        self._id = inp.digest_id
        self._playbook = inp.playbook
        self._entries: list[DigestEntry] = list(carried.entries)
        self._outcomes: dict[str, EntryOutcome] = dict(carried.outcomes)
        self._posted: DigestPosted | None = carried.posted
        self._threads: dict[str, str] = dict(carried.threads)
        self._last = carried.last_action
        self._bulk: list[tuple[BulkDecision, list[BulkTarget]]] = []  # accepted clicks, not yet sent
        self._review: list[BulkDecision] = []
        self._dirty = False  # the message is behind
        self._closing = False

    # --- messages ------------------------------------------------------------------------

    @workflow.update(name=JOIN)
    def join(self, entry: DigestEntry) -> JoinAnswer:
        """Idempotent: a retried join gets the same answer. A new request of the same
        investigation takes the place of its old one."""
        for position, known in enumerate(self._entries, start=1):
            if known.workflow_id == entry.workflow_id and known.request_id == entry.request_id:
                return JoinAnswer(digest_id=self._id, position=position, individual=position <= INDIVIDUAL_LIMIT)
        self._entries = [e for e in self._entries if e.workflow_id != entry.workflow_id]
        self._entries.append(entry)
        self._outcomes[entry.workflow_id] = EntryOutcome()
        self._threads.pop(entry.workflow_id, None)
        self._dirty = True
        position = len(self._entries)
        return JoinAnswer(digest_id=self._id, position=position, individual=position <= INDIVIDUAL_LIMIT)

    @join.validator
    def _check_join(self, entry: DigestEntry) -> None:
        if self._closing:
            raise ValueError("this digest is closing; post the request on its own")

    @workflow.update(name=DECIDE_ALL)
    def decide_all(self, decision: BulkDecision) -> BulkAck:
        """Recorded here at once (the gateway answers Slack after this); sent by the run."""
        if decision.choice == "review":
            self._review.append(decision)
            return BulkAck(count=len(self._open(decision)), choice="review")
        targets = self._targets(decision, decision.choice)
        name = decision.decided_by_name or decision.decided_by
        for target in targets:
            self._outcomes[target.workflow_id] = EntryOutcome(state="in_flight", by=name, by_id=decision.decided_by)
        self._bulk.append((decision, targets))
        self._dirty = True
        return BulkAck(count=len(targets), choice=decision.choice)

    @decide_all.validator
    def _check_decide_all(self, decision: BulkDecision) -> None:
        if not self._open(decision):
            raise ValueError("nothing left to decide in this digest: every request in it is decided or being decided")
        if decision.choice != "review" and not self._targets(decision, decision.choice):
            raise ValueError(f"no request in this digest offers a choice to {decision.choice}")

    @workflow.query(name=DIGEST_STATUS)
    def status(self) -> DigestStatus:
        return DigestStatus(
            digest_id=self._id,
            entries=len(self._entries),
            posted=self._posted,
            outcomes=self._outcomes,
            last_action=self._last,
        )

    # --- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: DigestInput) -> DigestStatus:
        next_check = workflow.now() + CHECK_EVERY
        while True:
            wake = min(next_check, inp.window_end) if workflow.now() < inp.window_end else next_check
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: bool(self._bulk or self._review or self._dirty),
                    timeout=max(wake - workflow.now(), timedelta(seconds=1)),
                    timeout_summary="digest check",
                )
            while self._bulk:
                decision, targets = self._bulk.pop(0)
                await self._decide(decision, targets)
            while self._review:
                await self._post_thread(self._review.pop(0))
            if workflow.now() >= next_check:
                await self._check_pending()
                next_check = workflow.now() + CHECK_EVERY
            if self._dirty and not self._bulk:
                if self._posted is not None:  # let a burst of joins land: one update for all of them
                    await workflow.sleep(SETTLE)
                await self._refresh()
            if workflow.now() >= inp.window_end and self._all_decided() and not (self._bulk or self._review):
                self._closing = True
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._all_decided():
                    break
                self._closing = False
            info = workflow.info()
            if info.is_continue_as_new_suggested() or info.get_current_history_length() > CONTINUE_AS_NEW_EVENTS:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not (self._bulk or self._review or self._dirty):
                    workflow.continue_as_new(inp.model_copy(update={"carried": self._carry()}))
        await self._refresh(closed=True)
        return self.status()

    # --- deciding ------------------------------------------------------------------------

    def _open(self, decision: BulkDecision) -> list[DigestEntry]:
        """Requests this clicker may still act on: waiting, or refused / recorded for someone else."""
        found = []
        for entry in self._entries:
            outcome = self._outcomes.get(entry.workflow_id, EntryOutcome())
            if outcome.state == "waiting" or (
                outcome.state in ("refused", "recorded") and outcome.by_id != decision.decided_by
            ):
                found.append(entry)
        return found

    def _targets(self, decision: BulkDecision, choice: Choice) -> list[BulkTarget]:
        targets = []
        for entry in self._open(decision):
            option = entry.option_for(choice)
            if option is not None:
                targets.append(BulkTarget(workflow_id=entry.workflow_id, request_id=entry.request_id, option_id=option))
        return targets

    async def _decide(self, decision: BulkDecision, targets: list[BulkTarget]) -> None:
        batches = [targets[i : i + BATCH] for i in range(0, len(targets), BATCH)]
        answers = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    DigestActivities.decide_many,
                    DecideMany(digest_id=self._id, targets=batch, decision=decision),
                    start_to_close_timeout=DECIDE_TIMEOUT,
                    heartbeat_timeout=DECIDE_HEARTBEAT,
                    retry_policy=SLACK_POST,
                )
                for batch in batches
            ),
            return_exceptions=True,
        )
        name = decision.decided_by_name or decision.decided_by
        for batch, answer in zip(batches, answers, strict=True):
            if isinstance(answer, DecideManyResult):
                for one in answer.results:
                    self._outcomes[one.workflow_id] = one.outcome
                continue
            why = activity_error_text(answer) if isinstance(answer, ActivityError) else str(answer)
            for target in batch:  # not delivered: open again for the next click
                self._outcomes[target.workflow_id] = EntryOutcome(
                    state="refused", detail=f"not delivered ({why})", by=name, by_id=""
                )
        states = [self._outcomes[t.workflow_id].state for t in targets]
        verb = {"approve": "Approve all", "deny": "Deny all"}.get(decision.choice, decision.choice)
        self._last = (
            f"{name} chose {verb}: {states.count('decided')} decided, {states.count('recorded')} awaiting another "
            f"approver, {states.count('refused') + states.count('ended')} not recorded"
        )
        self._dirty = True

    async def _check_pending(self) -> None:
        """Requests decided elsewhere (their own buttons, the CLI, a timeout) leave the digest's count."""
        waiting = [e for e in self._entries if self._outcomes.get(e.workflow_id, EntryOutcome()).state not in DECIDED]
        waiting = [e for e in waiting if self._outcomes.get(e.workflow_id, EntryOutcome()).state != "in_flight"]
        if not waiting:
            return
        try:
            answer = await workflow.execute_activity_method(
                DigestActivities.still_pending,
                StillPending(entries=waiting),
                start_to_close_timeout=DECIDE_TIMEOUT,
                heartbeat_timeout=DECIDE_HEARTBEAT,
                retry_policy=SLACK_NOTIFY,
            )
        except ActivityError as err:
            workflow.logger.warning("could not check the digest's requests", extra={"error": activity_error_text(err)})
            return
        for one in answer.results:
            if self._outcomes.get(one.workflow_id, EntryOutcome()).state != "in_flight":
                self._outcomes[one.workflow_id] = one.outcome
                self._dirty = True

    def _all_decided(self) -> bool:
        return all(self._outcomes.get(e.workflow_id, EntryOutcome()).state in DECIDED for e in self._entries)

    # --- the message ---------------------------------------------------------------------

    async def _refresh(self, *, closed: bool = False) -> None:
        self._dirty = False
        if len(self._entries) <= INDIVIDUAL_LIMIT:
            return  # each request is in Slack on its own
        message = summarise(
            self._id,
            self._playbook,
            self._entries,
            self._outcomes,
            posted=self._posted,
            last_action=self._last,
            closed=closed,
        )
        method = SlackActivities.update_digest if self._posted and self._posted.ts else SlackActivities.post_digest
        try:
            self._posted = await workflow.execute_activity_method(
                method, message, start_to_close_timeout=SLACK_TIMEOUT, retry_policy=SLACK_POST
            )
        except ActivityError as err:
            workflow.logger.warning("could not post the digest", extra={"error": activity_error_text(err)})
            self._dirty = not closed and not (self._posted and self._posted.ts)  # post at the next wake

    async def _post_thread(self, decision: BulkDecision) -> None:
        """Review individually: each open request, with its own buttons, in the digest's thread."""
        if self._posted is None or not self._posted.ts:
            return
        ids = [e.workflow_id for e in self._open(decision) if e.workflow_id not in self._threads]
        try:
            answer = await workflow.execute_activity_method(
                DigestActivities.post_thread,
                ThreadPost(posted=self._posted, workflow_ids=ids),
                start_to_close_timeout=DECIDE_TIMEOUT,
                heartbeat_timeout=DECIDE_HEARTBEAT,
                retry_policy=SLACK_NOTIFY,
            )
        except ActivityError as err:
            workflow.logger.warning(
                "could not post the requests in the thread", extra={"error": activity_error_text(err)}
            )
            return
        self._threads.update(answer.threads)
        self._last = f"{decision.decided_by_name or decision.decided_by} asked to review individually"
        self._dirty = True

    def _carry(self) -> DigestState:
        return DigestState(
            entries=self._entries,
            outcomes=self._outcomes,
            posted=self._posted,
            threads=self._threads,
            last_action=self._last,
        )
