"""Scoring and deciding as a local activity.

The logic is pure (playbooks/decide.py); running it as a local activity records its
result in the history, so a replay never re-scores with newer code and a change to
the scoring can never make a running investigation take a different path.
"""

from __future__ import annotations

from temporalio import activity

from playbooks.decide import evaluate as evaluate_findings
from riposte.models.runs import Assessment, EvaluationInput


class ScoringActivities:
    """Scoring with the worker's deployment-wide protected accounts (RIPOSTE_PROTECTED_ACTORS):
    read here, in the worker, so no run can leave them out; the answer is recorded in the history."""

    def __init__(self, protected_actor_ids: list[str]) -> None:
        self._protected = [a.lower() for a in protected_actor_ids]

    @activity.defn(name="Score and decide")
    async def evaluate(self, inp: EvaluationInput) -> Assessment:
        return evaluate_findings(inp.model_copy(update={"protected_actor_ids": self._protected}))
