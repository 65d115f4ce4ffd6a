"""The operator's commands: decide, list, show, replay and export runs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowExecution, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.worker import Replayer

from riposte import search_attributes as sa
from riposte.models.runs import DECIDE, STATUS, DecisionAck, DecisionRequest, InvestigationOutcome, InvestigationStatus
from riposte.operators import Operator, parse_operator, parse_operators, proof
from riposte.pseudonyms import RunNames
from riposte.settings import Settings
from riposte.temporal import data_converter, make_client, run_url


async def _client(settings: Settings) -> Client:
    return await make_client(settings)


def signer(settings: Settings, operator: str | None) -> Operator | None:
    """Whose token signs a CLI decision: the shell's own RIPOSTE_OPERATOR_TOKEN, or (on a machine
    that runs the workers, e.g. `riposte dev`) the named operator's entry in RIPOSTE_OPERATOR_TOKENS."""
    if settings.riposte_operator_token is not None:
        me = parse_operator(settings.riposte_operator_token.get_secret_value())
        if operator is None or operator == me.name:
            return me
    if settings.riposte_operator_tokens is not None:
        known = parse_operators(settings.riposte_operator_tokens.get_secret_value())
        return next((o for o in known if o.name == operator or operator is None), None)
    return None


def signed_decision(me: Operator, workflow_id: str, request_id: str, option_id: str) -> DecisionRequest:
    return DecisionRequest(
        request_id=request_id,
        option_id=option_id,
        decided_by=f"cli:{me.name}",
        decided_by_name=me.name,
        via="cli",
        proof=proof(me, workflow_id=workflow_id, request_id=request_id, option_id=option_id),
    )


async def decide(
    settings: Settings, workflow_id: str, *, approve: bool, option: str | None, operator: str | None = None
) -> int:
    """Decide a waiting investigation from the shell, signed with the operator's token; the
    workflow's validator and the worker's check of the proof are the judges."""
    me = signer(settings, operator)
    if me is None:
        Console(stderr=True).print(
            "[red]set RIPOSTE_OPERATOR_TOKEN to your 'name:token' (your Riposte admin issues it; "
            "`riposte dev` prints one): a decision from the CLI is signed with it[/red]"
        )
        return 2
    client = await _client(settings)
    handle = client.get_workflow_handle(workflow_id)
    try:
        status = await handle.query(STATUS, result_type=InvestigationStatus)
    except RPCError as exc:
        Console(stderr=True).print(f"[red]{workflow_id}: {exc.message}[/red]")
        return 1
    pending = status.pending or status.offer  # a request being asked, or an FYI's open choice
    if pending is None:
        Console(stderr=True).print(f"[red]{workflow_id} is not waiting for a decision (stage: {status.stage})[/red]")
        return 1
    options = pending.assessment.options
    if option is None:
        chosen = next((o for o in options if bool(o.actions) == approve), None)
    else:
        chosen = next((o for o in options if o.id == option), None)
    if chosen is None:
        offered = ", ".join(f"{o.id} ({o.label})" for o in options)
        Console(stderr=True).print(f"[red]no such option; offered: {offered}[/red]")
        return 2
    try:
        ack = await handle.execute_update(
            DECIDE, signed_decision(me, workflow_id, pending.request_id, chosen.id), result_type=DecisionAck
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        Console(stderr=True).print(f"[red]refused: {getattr(cause, 'message', cause)}[/red]")
        return 1
    Console().print(
        f"{workflow_id}: '{chosen.label}' recorded for {me.name} "
        f"({ack.status}, {ack.approvals}/{ack.required} approvals)"
    )
    return 0


async def list_runs(
    settings: Settings,
    *,
    actor: str | None,
    detection: str | None,
    decision: str | None,
    status: str | None,
    since: datetime | None,
    limit: int,
) -> list[tuple[str, ...]]:
    client = await _client(settings)
    clauses = ["WorkflowType = 'InvestigationWorkflow'"]
    actor_ref = RunNames.from_settings(settings).actor_ref(actor) if actor else None
    for key, value in ((sa.ACTOR, actor_ref), (sa.DETECTION, detection), (sa.DECISION, decision)):
        if value:
            clauses.append(f"{key.name} = {json.dumps(value)}")
    if status:
        clauses.append(f"ExecutionStatus = {json.dumps(status)}")
    if since:
        clauses.append(f"StartTime > {json.dumps(since.isoformat())}")
    rows: list[tuple[str, ...]] = []
    async for execution in client.list_workflows(" AND ".join(clauses), limit=limit):
        rows.append(_row(settings, execution))
    return rows


def _row(settings: Settings, execution: WorkflowExecution) -> tuple[str, ...]:
    attrs = execution.typed_search_attributes
    score = attrs.get(sa.SCORE)
    status = execution.status.name.title() if execution.status else "?"
    link = run_url(settings.ui_url, settings.temporal_namespace, execution.id, execution.run_id) or ""
    return (
        execution.id,
        attrs.get(sa.ACTOR) or "",
        ", ".join(attrs.get(sa.DETECTION) or []),
        f"{score:.0f}" if score is not None else "",
        attrs.get(sa.DECISION) or "",
        attrs.get(sa.STAGE) or "",
        status,
        execution.start_time.strftime("%Y-%m-%d %H:%M:%S"),
        link,
    )


async def show_run(settings: Settings, workflow_id: str, console: Console) -> int:
    client = await _client(settings)
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        Console(stderr=True).print(f"[red]{workflow_id}: {exc.message}[/red]")
        return 1
    if description.status and description.status.name == "COMPLETED":
        outcome = await client.get_workflow_handle(workflow_id, result_type=InvestigationOutcome).result()
        console.print(
            f"[bold]{workflow_id}[/bold]  {outcome.actor_id}  decision: [bold]{outcome.decision}[/bold] by {outcome.decided_by}"
        )
        console.print(f"detections: {', '.join(d.value for d in outcome.detections)}   score: {outcome.score:.0f}")
        factors, actions = outcome.factors, outcome.actions
    else:
        status = await handle.query(STATUS, result_type=InvestigationStatus)
        score = f"{status.score:.0f}" if status.score is not None else "not scored yet"
        console.print(f"[bold]{workflow_id}[/bold]  stage: [bold]{status.stage}[/bold]  score: {score}")
        detections = ", ".join(d.value for d in status.detections) or "none yet"
        console.print(f"detections: {detections}   playbook: {status.playbook or '?'}")
        for record in status.decisions:
            note = f" ({record.note})" if record.note else ""
            console.print(
                f"decision: [bold]{record.label}[/bold] by {record.decided_by} at {record.at:%Y-%m-%d %H:%M:%S}{note}"
            )
        for hold in status.holds:
            if hold.reversible and hold.outcome in ("held", "kept"):
                lapse = f", lapses at {hold.lapses_at:%Y-%m-%d %H:%M} UTC" if hold.lapses_at else ""
                what = ", ".join(a.value for a in hold.reversible)
                console.print(f"can be undone: {what} (riposte undo {workflow_id}){lapse}")
            for note in hold.irreversible:
                console.print(f"cannot be undone: {note}")
        factors = status.factors
        actions = [r for d in status.decisions for r in d.results]
        if status.pending:
            offered = ", ".join(f"{o.id} ({o.label})" for o in status.pending.assessment.options)
            console.print(f"waiting for a decision; options: {offered}")
        elif status.offer:
            offered = ", ".join(f"{o.id} ({o.label})" for o in status.offer.assessment.options)
            console.print(f"FYI open to a choice until {status.offer.expires_at:%Y-%m-%d %H:%M:%S}; options: {offered}")
    table = Table("factor", "points", "why")
    for factor in factors:
        table.add_row(factor.name, f"{factor.points:.1f}", factor.detail)
    console.print(table)
    for result in actions:
        console.print(f"  {result.action.value} on {result.actor_id}: {result.status} {result.detail}")
    link = run_url(settings.ui_url, settings.temporal_namespace, workflow_id)
    if link:
        console.print(f"Temporal UI: {link}")
    return 0


async def replay_histories(
    settings: Settings, workflow_id: str | None, files: list[Path], query: str | None, console: Console
) -> int:
    from worker import WORKFLOWS

    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=data_converter(settings))
    histories: list[WorkflowHistory] = []
    for path in files:
        histories.append(WorkflowHistory.from_json(path.stem, path.read_text()))
    if workflow_id or query:
        client = await _client(settings)
        if workflow_id:
            histories.append(await client.get_workflow_handle(workflow_id).fetch_history())
        if query:
            async for history in client.list_workflows(query).map_histories():
                histories.append(history)
    failures = 0
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure:
            failures += 1
            console.print(f"[red]✗ {history.workflow_id}: {result.replay_failure}[/red]")
        else:
            console.print(f"[green]✓ {history.workflow_id}[/green] ({len(history.events)} events)")
    console.print(f"{len(histories) - failures} replayed cleanly, {failures} non-deterministic")
    return 1 if failures else 0


async def export_history(settings: Settings, workflow_id: str) -> str:
    client = await _client(settings)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json()
