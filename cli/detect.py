"""`riposte detect ...`: the Akku-stream detector, seen from the operator's shell.

`status` reads the detector's last checkpoint from Temporal: the heartbeat details of the
pending `follow_akku` activity of DetectorWorkflow `riposte-detector/<task queue>`
(describe(), no query, no signal: nothing grows its history).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from detect.models import Checkpoint
from riposte.settings import SettingsError, load_settings

app = typer.Typer(help="Riposte's own detection from Akku's event stream (RIPOSTE_DETECT).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@dataclass(frozen=True)
class DetectorStatus:
    workflow_id: str
    running: bool
    activity_state: str | None  # SCHEDULED (waiting for a worker with RIPOSTE_DETECT on) | STARTED
    attempt: int
    last_failure: str | None
    checkpoint: Checkpoint | None


async def read_status(client: Client, task_queue: str) -> DetectorStatus | None:
    """The detector of this task queue and its last checkpoint; None when there is no detector."""
    from workflows.detector import detector_workflow_id

    workflow_id = detector_workflow_id(task_queue)
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    running = description.status == WorkflowExecutionStatus.RUNNING
    pending = list(description.raw_description.pending_activities)
    if not pending:
        return DetectorStatus(workflow_id, running, None, 0, None, None)
    activity = pending[0]
    checkpoint = None
    if activity.heartbeat_details.payloads:
        decoded = await client.data_converter.decode(activity.heartbeat_details.payloads, [Checkpoint])
        checkpoint = decoded[0] if decoded else None
    failure = activity.last_failure.message if activity.HasField("last_failure") else None
    state = activity.state
    from temporalio.api.enums.v1 import PendingActivityState

    return DetectorStatus(
        workflow_id,
        running,
        PendingActivityState.Name(state).removeprefix("PENDING_ACTIVITY_STATE_"),
        activity.attempt,
        failure or None,
        checkpoint,
    )


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    seconds = (now - at).total_seconds()
    return f"{at.isoformat(timespec='seconds')} ({seconds:,.0f} s ago)"


def _table(status: DetectorStatus) -> Table:
    now = datetime.now(UTC)
    table = Table(title=f"Detector {status.workflow_id}", show_header=False, title_justify="left")
    table.add_row("workflow", "running" if status.running else "not running")
    table.add_row("activity", f"{status.activity_state or 'none'} (attempt {status.attempt})")
    if status.last_failure:
        table.add_row("last failure", status.last_failure[:200])
    c = status.checkpoint
    if c is None:
        table.add_row("checkpoint", "none yet")
        return table
    position = f"{c.position.timestamp.isoformat(timespec='milliseconds')} {c.position.event_id}" if c.position else ""
    table.add_row(
        "mode", c.mode + ("  (the stream is unavailable: polling meanwhile)" if c.mode == "poll-fallback" else "")
    )
    table.add_row("position", position or "no event yet")
    table.add_row("replay from", c.replay_from.isoformat(timespec="seconds") if c.replay_from else "")
    table.add_row("lag behind Akku", f"{c.lag_seconds:,.1f} s" if c.lag_seconds is not None else "")
    table.add_row("events/s", f"{c.events_per_second:,.1f}")
    table.add_row("last checkpoint", _ago(c.heartbeat_at, now))
    n = c.counters
    table.add_row(
        "counters",
        f"{n.events:,} events, {n.replayed:,} re-read after restarts, {n.malformed} malformed, "
        f"{n.duplicates:,} duplicates skipped, {n.reconnects} reconnects, {n.fallbacks} fallbacks to polling",
    )
    table.add_row("rules in force", ", ".join(c.rules) or "none (no playbook matches)")
    hour_ago = now - timedelta(hours=1)
    recent = [f for f in c.firings if f.fired_at >= hour_ago]
    by_rule: dict[str, int] = {}
    for f in recent:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    table.add_row("fired, last hour", ", ".join(f"{r} {k}" for r, k in sorted(by_rule.items())) or "nothing")
    for f in recent[-5:]:
        table.add_row("", f"{f.fired_at.isoformat(timespec='seconds')} {f.rule} {f.key}: {f.status} {f.workflow_id}")
    return table


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="The raw checkpoint as JSON.")] = False,
) -> None:
    """Position, lag behind Akku, events/s, rules fired in the last hour, mode and malformed lines."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None

    async def read() -> DetectorStatus | None:
        from riposte.temporal import make_client

        client = await make_client(settings)
        return await read_status(client, settings.temporal_task_queue)

    try:
        found = asyncio.run(read())
    except RPCError as exc:
        err.print(f"[red]Temporal at {settings.target_host}: {exc.message}[/red]")
        raise typer.Exit(1) from None
    except RuntimeError as exc:  # connection refused
        err.print(f"[red]cannot reach Temporal at {settings.target_host}: {exc}[/red]")
        raise typer.Exit(1) from None
    if found is None:
        err.print(
            f"no detector on task queue {settings.temporal_task_queue}: start a worker with "
            "RIPOSTE_DETECT=stream or poll (`riposte dev` and `riposte demo` do)"
        )
        raise typer.Exit(1)
    if as_json:
        body = found.checkpoint.model_dump(mode="json") if found.checkpoint else None
        sys.stdout.write(json.dumps({"workflow_id": found.workflow_id, "running": found.running, "checkpoint": body}))
        sys.stdout.write("\n")
        return
    console.print(_table(found))
