"""Scoring and deciding as a local activity.

The logic is pure (playbooks/decide.py); running it as a local activity records its
result in the history, so a replay never re-scores with newer code and a change to
the scoring can never make a running investigation take a different path.
"""

from __future__ import annotations

from temporalio import activity

from playbooks.decide import evaluate as evaluate_findings
from riposte.models.runs import Assessment, EvaluationInput


@activity.defn(name="Score and decide")
async def evaluate(inp: EvaluationInput) -> Assessment:
    return evaluate_findings(inp)
