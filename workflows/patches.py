"""The patch register: every `workflow.patched()` id, what it gates, and when it may go.

A patch keeps runs that started before a change on their old path while new runs take the
new one. Each id is listed here with the workflow it lives in, what it gates, the commit
that added it, and the visibility query that finds runs which could still take the old
branch. A patch is retired only when that query returns nothing on every cluster the code
runs against: first `workflow.deprecate_patch(id)` (new code, old branch gone), then, once no
open run carries the marker either, the call itself. docs/patches.md walks one retirement
end to end; tests/test_patches.py keeps this register, the code and the histories in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow


@dataclass(frozen=True)
class Patch:
    id: str
    workflow: str
    gates: str
    commit: str
    # runs that may still take the old branch: open, started by code from before the patch
    old_runs_query: str
    implied_by: str | None = None  # a later patch whose runs take this branch without its marker


def _older(workflow_type: str, *ids: str) -> str:
    markers = ", ".join(f"'{i}'" for i in ids)
    return (
        f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running' "
        f"AND (TemporalChangeVersion IS NULL OR TemporalChangeVersion NOT IN ({markers}))"
    )


APPROVERS_BEFORE_POST = "approvers-before-post-v1"
REPOST_UNTIL_DELIVERED = "repost-until-delivered-v1"
ACTIONS_IN_PARALLEL = "actions-in-parallel-v1"
# lean-decisions-v1 includes the three patches before it: a run that has it takes their branches
# without recording their markers (each recorded patch also costs an upsert of TemporalChangeVersion)
LEAN_DECISIONS = "lean-decisions-v1"
LOCAL_DISPATCH = "local-dispatch-v1"
GOVERNOR_OWN_TASK_QUEUE = "governor-own-task-queue-v1"
FALLBACK_TAKES_A_PERMIT = "fallback-takes-a-permit-v1"
DECIDE_CONFIRMS_DECIDER = "decide-confirms-decider-v1"
APPROVAL_DIGEST = "approval-digest-v1"
# lean-acting-v1 includes lean-decisions-v1 (and so the three before it): a new run records one marker
LEAN_ACTING = "lean-acting-v1"
ALERT_STAGE_AT_START = "alert-stage-at-start-v1"
ACTIONABLE_NOTIFY = "actionable-notify-v1"
REMINDER_IN_THREAD = "reminder-in-thread-v1"
CONTAINMENT = "containment-v1"

_INVESTIGATION = "InvestigationWorkflow"
REGISTER: tuple[Patch, ...] = (
    Patch(
        APPROVERS_BEFORE_POST,
        _INVESTIGATION,
        "ask Slack who may decide (an activity) before posting the buttons",
        "44dc264",
        _older(_INVESTIGATION, APPROVERS_BEFORE_POST, LEAN_DECISIONS, LEAN_ACTING),
        implied_by=LEAN_DECISIONS,
    ),
    Patch(
        REPOST_UNTIL_DELIVERED,
        _INVESTIGATION,
        "a request that never reached Slack is posted again at each reminder until delivered",
        "8c3a20f",
        _older(_INVESTIGATION, REPOST_UNTIL_DELIVERED, LEAN_DECISIONS, LEAN_ACTING),
        implied_by=LEAN_DECISIONS,
    ),
    Patch(
        ACTIONS_IN_PARALLEL,
        _INVESTIGATION,
        "a decision's Akku writes are scheduled together instead of one after another",
        "be2144f",
        _older(_INVESTIGATION, ACTIONS_IN_PARALLEL, LEAN_DECISIONS, LEAN_ACTING),
        implied_by=LEAN_DECISIONS,
    ),
    Patch(
        LEAN_DECISIONS,
        _INVESTIGATION,
        "the notice after an action as a local activity; a decision's search attributes upserted with its "
        "stage; implies the three patches above",
        "573869c",
        _older(_INVESTIGATION, LEAN_DECISIONS, LEAN_ACTING),
        implied_by=LEAN_ACTING,
    ),
    Patch(
        LOCAL_DISPATCH,
        "AlertWorkflow",
        "an alert about at most 20 people reads Akku and dispatches in local activities",
        "573869c",
        _older("AlertWorkflow", LOCAL_DISPATCH),
    ),
    Patch(
        GOVERNOR_OWN_TASK_QUEUE,
        "ActionGovernor",
        "continue-as-new moves a governor started on the main queue to its own task queue",
        "bcaa9bd",
        _older("ActionGovernor", GOVERNOR_OWN_TASK_QUEUE),
    ),
    Patch(
        FALLBACK_TAKES_A_PERMIT,
        _INVESTIGATION,
        "a timeout fallback asks the governor for a permit first, and never applies to a request escalated "
        "because an automatic action was refused; refused, the run keeps waiting for a person",
        "33af0f8",
        _older(_INVESTIGATION, FALLBACK_TAKES_A_PERMIT),
    ),
    Patch(
        DECIDE_CONFIRMS_DECIDER,
        _INVESTIGATION,
        "each decision first confirms its decider in a local activity: still an approver in Slack, a CLI "
        "operator's proof, not the person a role change favoured; refused if that cannot be confirmed",
        "284b407",
        _older(_INVESTIGATION, DECIDE_CONFIRMS_DECIDER),
    ),
    Patch(
        APPROVAL_DIGEST,
        _INVESTIGATION,
        "a request that may be decided in bulk (not protected, not privileged, not admin elevation) joins its "
        "playbook's approval digest first (an activity); from the third in a window it is not posted on its own "
        "and is neither reminded nor escalated per person: the digest message stands for it",
        "a07f716",
        _older(_INVESTIGATION, APPROVAL_DIGEST),
    ),
    Patch(
        LEAN_ACTING,
        _INVESTIGATION,
        "an automatic decision in one workflow task: for an alert about at most 20 people the permit and the "
        "Akku writes run as local activities (each falls back to an activity past its budget); the score and "
        "the decision in one upsert, no upsert at close; implies lean-decisions-v1",
        "3e523b9",
        _older(_INVESTIGATION, LEAN_ACTING),
    ),
    Patch(
        ALERT_STAGE_AT_START,
        "AlertWorkflow",
        "no search-attribute upsert when the alert has dispatched (its run's status says so)",
        "3e523b9",
        _older("AlertWorkflow", ALERT_STAGE_AT_START),
    ),
    Patch(
        ACTIONABLE_NOTIFY,
        _INVESTIGATION,
        "a notify whose playbook has a stronger band posts its FYI with that band's choices (who may decide "
        "resolved first, an activity) instead of a plain notice; a choice made before the quiet period ends is "
        "applied like an approval; the message is updated when it is chosen, superseded or the run closes",
        "29e0f70",
        _older(_INVESTIGATION, ACTIONABLE_NOTIFY),
    ),
    Patch(
        REMINDER_IN_THREAD,
        _INVESTIGATION,
        "a reminder is a reply in the request's thread that mentions who may decide (an activity) instead of an "
        "edit of the request",
        "29e0f70",
        _older(_INVESTIGATION, REMINDER_IN_THREAD),
    ),
    Patch(
        CONTAINMENT,
        _INVESTIGATION,
        "the `undo` update (Undo / Keep locked on what a decision applied, confirmed like an approval) unlocks "
        "through Akku and updates the messages; a playbook's contain_for starts a lapse timer that unlocks by "
        "itself, and the run stays open until it lapses (recorded only by runs that get an undo or a lapse timer)",
        "8b45954",
        _older(_INVESTIGATION, CONTAINMENT),
    ),
)


def since(patch_id: str) -> bool:
    """An investigation patch's new branch: taken by runs that have lean-acting-v1 (which implies
    lean-decisions-v1), lean-decisions-v1 (which implies the three before it) or the patch itself.
    Called in the same place and order as the patch always was, so the markers a run records do
    not change; a run started since lean-acting-v1 records that one marker (first, when it starts)."""
    return workflow.patched(LEAN_ACTING) or workflow.patched(LEAN_DECISIONS) or workflow.patched(patch_id)
