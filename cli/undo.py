"""`riposte undo RUN [--action ACTION]`: reverse what a run did where Akku allows it.

Akku can unlock an account; it has no endpoint to grant a role back, and ended sessions, a forced
password reset and cleared MFA factors cannot be restored: for those the command says so and
changes nothing. An undo is a decision like an approval: signed with the operator's token
(cli/operators.py), judged by the run's `undo` validator and confirmed by the worker, recorded in
the run with who and why. Exit codes: 0 undone (or already undone), 1 refused or impossible,
2 usage error.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from cli.operators import signed_decision, signer
from playbooks import containment as undoable
from riposte.models.common import ActionKind
from riposte.models.runs import STATUS, UNDO, Hold, InvestigationStatus, UndoAck
from riposte.operators import Operator
from riposte.settings import Settings
from riposte.temporal import make_client

REASON_LIMIT = 500  # DecisionRequest.reason
UNDOABLE_NAMES = ", ".join(a.value for a in ActionKind if a is not ActionKind.UNLOCK)


def _when(hold: Hold) -> str:
    return f" at {hold.at:%Y-%m-%d %H:%M:%S} UTC" if hold.at else ""


def parse_action(action: str | None) -> ActionKind | None:
    """The --action value; ValueError (with the accepted names) for anything else."""
    if action is None:
        return None
    try:
        kind = ActionKind(action.strip().lower().replace(" ", "_").replace("-", "_"))
    except ValueError:
        kind = None
    if kind is None or kind is ActionKind.UNLOCK:
        raise ValueError(f"unknown action {action!r}: one of {UNDOABLE_NAMES}")
    return kind


async def undo(
    settings: Settings,
    workflow_id: str,
    *,
    action: str | None,
    reason: str,
    operator: str | None = None,
    out: Console | None = None,
) -> int:
    out = out or Console()
    err = Console(stderr=True)
    try:
        kind = parse_action(action)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        return 2
    if not reason.strip() or len(reason) > REASON_LIMIT:
        err.print(f"[red]--reason must say why, in at most {REASON_LIMIT} characters[/red]")
        return 2
    me = signer(settings, operator)
    if me is None:
        err.print(
            "[red]set RIPOSTE_OPERATOR_TOKEN to your 'name:token' (your Riposte admin issues it; "
            "`riposte dev` prints one): an undo from the CLI is signed with it[/red]"
        )
        return 2
    handle = (await make_client(settings)).get_workflow_handle(workflow_id)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            err.print(f"[red]no run {workflow_id!r}: check the id with `riposte runs`[/red]")
        else:
            err.print(f"[red]{workflow_id}: {exc.message}[/red]")
        return 1
    if described.status is not WorkflowExecutionStatus.RUNNING:
        closed = f" at {described.close_time:%Y-%m-%d %H:%M} UTC" if described.close_time else ""
        state = described.status.name.lower() if described.status else "closed"
        err.print(
            f"[red]{workflow_id} is closed ({state}{closed}): Riposte can no longer undo what it did. "
            "Unlock the account in Akku's console; a revoked role is re-granted there too.[/red]"
        )
        return 1
    status = await handle.query(STATUS, result_type=InvestigationStatus)
    return await _undo_open(handle, me, status, kind, reason, out, err)


async def _undo_open(
    handle: WorkflowHandle[Any, Any],
    me: Operator,
    status: InvestigationStatus,
    kind: ActionKind | None,
    reason: str,
    out: Console,
    err: Console,
) -> int:
    holds = status.holds
    if not holds:
        err.print(f"[red]nothing to undo: {handle.id} has applied no action it keeps track of[/red]")
        return 1
    if kind is not None and kind not in undoable.REVERSE:
        name = kind.value.replace("_", " ")
        said = next((n for h in reversed(holds) for n in h.irreversible if n.lower().startswith(name)), None)
        err.print(f"[red]{said or f'{handle.id} did not apply {name}'}; nothing changed[/red]")
        return 1
    candidates = [h for h in reversed(holds) if h.reversible and (kind is None or kind in h.reversible)]
    open_holds = [h for h in candidates if h.outcome in ("held", "kept")]
    if not open_holds:
        if candidates:
            done = candidates[0]
            how = "lifted when its contain_for lapsed" if done.outcome == "lapsed" else f"undone by {done.by}"
            out.print(f"{handle.id}: already {how}{_when(done)}; nothing to do")
            return 0
        cannot = "; ".join(n for h in holds for n in h.irreversible) or "no lock was applied"
        err.print(f"[red]nothing here can be undone through Akku: {cannot}[/red]")
        return 1
    hold = open_holds[0]
    decision = signed_decision(me, handle.id, hold.request_id, undoable.UNDO)
    decision = decision.model_copy(update={"reason": reason})
    try:
        ack = await handle.execute_update(UNDO, decision, result_type=UndoAck)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        err.print(f"[red]refused: {getattr(cause, 'message', cause)}[/red]")
        return 1
    for result in ack.results:
        detail = f" ({result.detail})" if result.detail else ""
        out.print(f"  {result.action.value} on {result.actor_id}: {result.status}{detail}")
    if ack.outcome != "undone":
        err.print(f"[red]{handle.id}: Akku did not unlock the account; it is still locked[/red]")
        return 1
    out.print(f"{handle.id}: {', '.join(a.value for a in hold.reversible)} undone by {me.name} ({reason})")
    for note in hold.irreversible:
        out.print(f"  not undone: {note}")
    return 0
