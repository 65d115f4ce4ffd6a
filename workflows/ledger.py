"""An investigation's ledger: its decisions, where it stands, and how both are made findable.

Every decision is a `DecisionRecord` (score, who decided, the actions and Akku's answers); the
stage is the run's place in its story. Both go into search attributes (RiposteDecision,
RiposteStage) so runs can be found in the Temporal UI; since lean-decisions-v1 a decision's
attribute goes out in one upsert with the stage that always follows it, and since
lean-acting-v1 so do the score and detections of an evaluation, and a stage passed on the way
(acting) or at the end (closed: the run's status says so) is not upserted at all. Used only
from workflow code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    import workflows.patches as patches
    from riposte import search_attributes as sa
    from riposte.models.actions import ActionResult
    from riposte.models.common import ActionKind, Response
    from riposte.models.runs import Assessment, DecisionLabel, DecisionRecord, InvestigationOutcome, Stage


class Ledger:
    def __init__(self, decisions: list[DecisionRecord], stage: Stage) -> None:
        self.decisions = decisions
        self.stage = stage
        self._search_pending: list[SearchAttributeUpdate[Any]] = []  # sent with the next stage

    def record(
        self,
        assessment: Assessment,
        label: DecisionLabel,
        response: Response,
        decided_by: str,
        option_id: str | None = None,
        actions: list[ActionKind] | None = None,
        results: list[ActionResult] | None = None,
        note: str = "",
        via_digest: str | None = None,
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
            via_digest=via_digest,
        )
        self.decisions.append(record)
        if patches.since(patches.LEAN_DECISIONS):
            self._search_pending.append(sa.DECISION.value_set(label))  # every record is followed by a stage
        else:
            workflow.upsert_search_attributes([sa.DECISION.value_set(label)])
        return record

    def defer(self, updates: list[SearchAttributeUpdate[Any]]) -> None:
        """Search attributes to send with the next stage (or `publish`)."""
        self._search_pending.extend(updates)

    def publish(self) -> None:
        """Send what is pending now (an evaluation that no stage follows: a new finding while waiting)."""
        updates, self._search_pending = self._search_pending, []
        if updates:
            workflow.upsert_search_attributes(updates)

    def set_stage(self, stage: Stage, details: str, *, passing: bool = False) -> None:
        """`passing`: a stage on the way to another within the same workflow task (acting) or the
        close: shown in the status query and the details, not upserted."""
        if passing:
            self.stage = stage
            workflow.set_current_details(details)
            return
        updates, self._search_pending = self._search_pending, []
        if stage != self.stage:
            self.stage = stage
            updates.append(sa.STAGE.value_set(stage))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(details)

    def outcome(
        self, actor_id: str, assessment: Assessment | None, findings: int, opened_at: datetime | None, *, dry_run: bool
    ) -> InvestigationOutcome:
        """The run's result: its last assessment and decision, every action it applied."""
        a, last = assessment, (self.decisions[-1] if self.decisions else None)
        return InvestigationOutcome(
            actor_id=actor_id,
            detections=a.detections if a else [],
            score=a.score if a else 0.0,
            factors=a.factors if a else [],
            decision=last.label if last else DecisionLabel.OBSERVED,
            decided_by=last.decided_by if last else "policy",
            actions=[r for d in self.decisions for r in d.results],
            findings=findings,
            opened_at=opened_at or workflow.now(),
            closed_at=workflow.now(),
            dry_run=dry_run,
        )
