"""ActionGovernor: one workflow that rations automatic account actions across every run.

"At most N automatic actions in any rolling window W" must hold across all concurrent
investigations and all workers, so the counter lives in a Temporal workflow, not in a
process, on a task queue of its own so that its updates never wait behind a storm of
investigation tasks: permits are asked for with update-with-start (activities/governor.py, which
coalesces a worker's concurrent requests into one `acquire_batch` update), and update
handlers run one at a time, so two racing requests can never both take the last permit.
Answers are remembered by key, so a retried request is answered the same.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.patches as patches
    from riposte.models.governor import (
        ACQUIRE,
        ACQUIRE_BATCH,
        PAUSE,
        RESUME,
        STATE,
        GovernorInput,
        GovernorState,
        Grant,
        Pause,
        PermitBatch,
        PermitBatchDecision,
        PermitDecision,
        PermitRequest,
        governor_task_queue,
    )

MEMORY = timedelta(hours=24)  # longest window honoured; answers are kept as long
MAX_UPDATES_PER_RUN = 500  # continue-as-new well before the history grows large


@workflow.defn(name="ActionGovernor")
class ActionGovernor:
    @workflow.init
    def __init__(self, inp: GovernorInput) -> None:
        self._state = GovernorState(
            grants=list(inp.state.grants), answered=dict(inp.state.answered), paused=inp.state.paused
        )
        self._updates = 0

    @workflow.run
    async def run(self, inp: GovernorInput) -> None:
        await workflow.wait_condition(
            lambda: self._updates >= MAX_UPDATES_PER_RUN or workflow.info().is_continue_as_new_suggested()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        if workflow.patched(patches.GOVERNOR_OWN_TASK_QUEUE):
            # a governor started on the main queue (before it had its own) moves to its own queue
            workflow.continue_as_new(
                GovernorInput(state=self._pruned()), task_queue=governor_task_queue(workflow.info().task_queue)
            )
        workflow.continue_as_new(GovernorInput(state=self._pruned()))

    @workflow.update(name=ACQUIRE)
    def acquire(self, request: PermitRequest) -> PermitDecision:
        self._updates += 1
        self._state = self._pruned()
        return self._decide(request)

    @workflow.update(name=ACQUIRE_BATCH)
    def acquire_batch(self, batch: PermitBatch) -> PermitBatchDecision:
        """Several requests in one update (activities/governor.py coalesces a worker's requests):
        answered in order, in one handler run, so they are as atomic as single requests."""
        self._updates += 1
        self._state = self._pruned()
        return PermitBatchDecision(decisions=[self._decide(request) for request in batch.requests])

    @workflow.update(name=PAUSE)
    def pause(self, pause: Pause) -> GovernorState:
        """The emergency stop: from now on every permit is refused (each run then asks a person),
        on every worker at once, since every automatic write asks this one workflow first."""
        self._updates += 1
        self._state = self._pruned().model_copy(update={"paused": pause.model_copy(update={"at": workflow.now()})})
        workflow.logger.warning("automatic actions paused", extra={"by": pause.by, "reason": pause.reason})
        return self._state

    @workflow.update(name=RESUME)
    def resume(self, by: Pause) -> GovernorState:
        self._updates += 1
        self._state = self._pruned().model_copy(update={"paused": None})
        workflow.logger.warning("automatic actions resumed", extra={"by": by.by, "reason": by.reason})
        return self._state

    def _decide(self, request: PermitRequest) -> PermitDecision:
        now = workflow.now()
        previous = self._state.answered.get(request.key)
        if previous is None and self._state.paused is not None:
            # refused, and not remembered: a request answered before the pause keeps its answer
            return PermitDecision(
                key=request.key,
                granted=False,
                used_in_window=0,
                limit=request.limit,
                window_seconds=request.window_seconds,
                paused=self._state.paused,
            )
        window_start = now - timedelta(seconds=request.window_seconds)
        used = sum(g.count for g in self._state.grants if g.at > window_start)
        if previous is not None:
            granted = previous
        else:
            granted = used + request.count <= request.limit
            self._state.answered[request.key] = granted
            if granted:
                self._state.grants.append(
                    Grant(key=request.key, at=now, count=request.count, requested_by=request.requested_by)
                )
        if previous is None:
            workflow.logger.info(
                "permit %s",
                "granted" if granted else "refused",
                extra={"key": request.key, "used": used, "limit": request.limit},
            )
        return PermitDecision(
            key=request.key,
            granted=granted,
            used_in_window=used,
            limit=request.limit,
            window_seconds=request.window_seconds,
        )

    @workflow.query(name=STATE)
    def state(self) -> GovernorState:
        return self._state

    def _pruned(self) -> GovernorState:
        horizon = workflow.now() - MEMORY
        grants = [g for g in self._state.grants if g.at > horizon]
        live = {g.key for g in grants}
        # refused answers are not worth 24 h of memory once their requester has moved on
        answered = {k: v for k, v in self._state.answered.items() if k in live or not v}
        if len(answered) > 5000:
            answered = dict(list(answered.items())[-5000:])
        return GovernorState(grants=grants, answered=answered, paused=self._state.paused)
