"""The words a run uses for its decisions: details in the Temporal UI, Slack headlines, notes.

Pure: the investigation workflow and the Slack message builder both read these, so a
decision is described the same way in the run's history and in the channel.
"""

from __future__ import annotations

from riposte.models.actions import ActionResult
from riposte.models.common import ActionKind
from riposte.models.governor import PermitDecision
from riposte.models.runs import Assessment, DecisionRecord


def action_names(actions: list[ActionKind]) -> str:
    """'lock, revoke sessions' — or 'no action'."""
    return ", ".join(a.value.replace("_", " ") for a in actions) or "no action"


def detection_names(assessment: Assessment) -> str:
    return ", ".join(d.value.replace("_", " ") for d in assessment.detections)


def describe(actor_id: str, assessment: Assessment) -> str:
    """'u_10001: mfa fatigue, score 63'."""
    return f"{actor_id}: {detection_names(assessment)}, score {assessment.score:.0f}"


def results_text(results: list[ActionResult]) -> str:
    return ", ".join(f"{r.action.value} {r.status}" for r in results) or "no action taken"


def summary(decisions: list[DecisionRecord]) -> str:
    """The last decision in a few words, for the closing details."""
    last = decisions[-1] if decisions else None
    return f"{last.label} at score {last.score:.0f}" if last else "no finding"


def limit_note(used: int, limit: int, window_seconds: float) -> str:
    """Why an automatic decision went to a person: the action limit was reached."""
    hours = window_seconds / 3600
    window = f"{hours:g} h" if hours >= 1 else f"{window_seconds / 60:g} min"
    return f"automatic-action limit reached ({used} of {limit} in {window}): escalated to a person instead of acting"


def paused_note(by: str, reason: str) -> str:
    return f"automatic actions are paused by {by} ({reason}): escalated to a person instead of acting"


def refusal_note(decision: PermitDecision) -> str:
    """Why the governor said no: the emergency stop, or the action limit."""
    if decision.paused is not None:
        return paused_note(decision.paused.by, decision.paused.reason)
    return limit_note(decision.used_in_window, decision.limit, decision.window_seconds)
