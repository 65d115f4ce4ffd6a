"""The operator's commands: decide, pause and resume automatic actions, list, show, replay, export."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.app import _connect, _with_client, app, console, err, run, settings_or_exit
from riposte.settings import Settings


def investigation_id(settings: Settings, run_ref: str) -> str:
    """Accept a workflow id or a bare Akku actor id (mapped to its pseudonym when encryption is on)."""
    from riposte.pseudonyms import RunNames

    if "-" in run_ref and not run_ref.startswith("u_"):
        return run_ref
    return RunNames.from_settings(settings).investigation_id(run_ref)


def _decide(run_ref: str, approve: bool, option: str | None, operator: str | None) -> int:
    from cli.operators import decide

    settings = settings_or_exit()
    return run(
        decide(
            settings,
            investigation_id(settings, run_ref),
            approve=approve,
            option=option,
            operator=operator,
        )
    )


RunArg = Annotated[str, typer.Argument(help="Investigation workflow id, or the Akku actor id (u_48213).")]
OptionOpt = Annotated[str | None, typer.Option("--option", help="Which offered option to choose (see `riposte show`).")]
AsOpt = Annotated[
    str | None,
    typer.Option("--as", help="Operator name recorded (default: the name in RIPOSTE_OPERATOR_TOKEN, else $USER)."),
]


@app.command()
def approve(run_ref: RunArg, option: OptionOpt = None, operator: AsOpt = None) -> None:
    """Approve a run waiting for a decision, without Slack; signed with your RIPOSTE_OPERATOR_TOKEN.

    Without --option, the first option that acts is chosen (e.g. "Lock account").
    """
    raise typer.Exit(_decide(run_ref, True, option, operator))


@app.command()
def deny(run_ref: RunArg, operator: AsOpt = None) -> None:
    """Deny (dismiss as benign) a run waiting for a decision; signed with your RIPOSTE_OPERATOR_TOKEN."""
    raise typer.Exit(_decide(run_ref, False, None, operator))


@app.command()
def undo(
    run_ref: RunArg,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action (e.g. lock); default: everything the run can reverse."),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded in the run.")] = "undone from the CLI",
    operator: AsOpt = None,
) -> None:
    """Reverse what a run did where Akku allows it: unlock an account it locked.

    Authorised and recorded like an approval (signed with your RIPOSTE_OPERATOR_TOKEN). Akku has
    no endpoint to grant a role back, and ended sessions, a forced password reset and cleared MFA
    factors cannot be restored: for those it says so and changes nothing. A repeated undo is
    reported as already undone. A closed run can no longer be undone: use Akku's console.
    """
    from cli.undo import undo as reverse

    settings = settings_or_exit()
    raise typer.Exit(
        run(reverse(settings, investigation_id(settings, run_ref), action=action, reason=reason, operator=operator))
    )


@app.command("pause-actions")
def pause_actions(
    reason: Annotated[str, typer.Option("--reason", help="Why: shown in every escalated request and `riposte runs`.")],
    operator: AsOpt = None,
) -> None:
    """Emergency stop: no automatic write on any worker from now on; decisions go to a person.

    Takes effect within seconds everywhere (every automatic write asks the governor workflow
    for a permit first). People can still approve in Slack or with `riposte approve`.
    Undo with `riposte resume-actions`.
    """
    from cli.emergency import pause_actions as pause

    settings = settings_or_exit()

    async def go() -> None:
        state = await pause(await _connect(settings), settings, by=operator or getpass.getuser(), reason=reason)
        assert state.paused is not None
        console.print(f"[bold red]Automatic actions PAUSED[/bold red] by {state.paused.by}: {state.paused.reason}")

    run(go())


@app.command("resume-actions")
def resume_actions(operator: AsOpt = None) -> None:
    """Lift the emergency stop: automatic writes may go on (within the action limit)."""
    from cli.emergency import resume_actions as resume

    settings = settings_or_exit()

    async def go() -> None:
        await resume(await _connect(settings), settings, by=operator or getpass.getuser())
        console.print("[green]Automatic actions resumed.[/green]")

    run(go())


@app.command()
def runs(
    actor: Annotated[str | None, typer.Option(help="Only this Akku actor id.")] = None,
    detection: Annotated[str | None, typer.Option(help="Only this detection, e.g. credential_stuffing.")] = None,
    decision: Annotated[str | None, typer.Option(help="Only this decision, e.g. acted, approved, timed_out.")] = None,
    status: Annotated[str | None, typer.Option(help="Running, Completed, Failed, ...")] = None,
    since: Annotated[str | None, typer.Option(help="Started within this long ago: 30m, 6h, 2d.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
) -> None:
    """Recent investigations with actor, detection, score, decision and a Temporal UI link."""
    from cli.operators import list_runs

    settings = settings_or_exit()
    rows = run(
        list_runs(
            settings, actor=actor, detection=detection, decision=decision, status=status, since=_ago(since), limit=limit
        )
    )
    from cli.emergency import current_pause

    paused = run(_with_client(settings, current_pause))
    if paused is not None:
        since_text = f" since {paused.at:%Y-%m-%d %H:%M} UTC" if paused.at else ""
        console.print(
            f"[bold red]Automatic actions are PAUSED[/bold red] by {paused.by}{since_text}: {paused.reason} "
            "(`riposte resume-actions` lifts it)"
        )
    table = Table(title="Riposte investigations")
    for column in ("run", "actor", "detection", "score", "decision", "stage", "status", "started", "UI"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _ago(text: str | None) -> datetime | None:
    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError):
        raise typer.BadParameter(f"{text!r}: use a number and s, m, h or d (e.g. 6h)") from None
    return datetime.now(UTC) - timedelta(seconds=seconds)


@app.command()
def show(run_ref: RunArg) -> None:
    """A run's outcome: score, factors, decisions, who decided, and what Akku answered."""
    from cli.operators import show_run

    settings = settings_or_exit()
    raise typer.Exit(run(show_run(settings, investigation_id(settings, run_ref), console)))


@app.command()
def replay(
    workflow_id: Annotated[str | None, typer.Argument(help="Fetch this run's history from Temporal.")] = None,
    file: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="Replay a saved history (repeatable).")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Replay every run matching a visibility query.")
    ] = None,
) -> None:
    """Replay histories against the current code; exit 1 on non-determinism.

    Use before rolling out a workflow change: replay production histories first.
    """
    from cli.operators import replay_histories

    if not (workflow_id or file or query):
        err.print("[red]give a WORKFLOW_ID, --file HISTORY.json or --query[/red]")
        raise typer.Exit(2)
    settings = settings_or_exit()
    raise typer.Exit(run(replay_histories(settings, workflow_id, list(file or []), query, console)))


@app.command()
def export(
    run_ref: Annotated[str, typer.Argument(help="Workflow id of the run to export.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """Save a run's history as JSON (e.g. for tests/histories/)."""
    from cli.operators import export_history

    settings = settings_or_exit()
    text = run(export_history(settings, run_ref))
    if out:
        out.write_text(text)
        console.print(f"wrote {out}")
    else:
        sys.stdout.write(text + "\n")
