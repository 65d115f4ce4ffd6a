"""`riposte`: run the stack, its parts, and the operator's tools.

Exit codes: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli.detect import app as detect_app
from riposte.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from cli.logs import Problems

T = TypeVar("T")

app = typer.Typer(
    name="riposte",
    help=(
        "Riposte: a SOAR playbook engine for identity attacks, on Temporal.\n\n"
        "SIEM alerts come in through the webhook gateway, durable workflows enrich the flagged "
        "accounts in Akku, score them with explainable factors, and lock, reset or escalate to a "
        "person in Slack. Start with `riposte dev` (everything on this machine) or `riposte demo`."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
simulate = typer.Typer(help="Run a local simulator of an outside system (no tenant needed).", no_args_is_help=True)
app.add_typer(simulate, name="simulate")
app.add_typer(detect_app, name="detect")

console = Console()
err = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


async def _connect(settings: Settings) -> Any:
    from riposte.temporal import make_client

    return await make_client(settings)


async def _with_client(settings: Settings, call: Any) -> Any:
    return await call(await _connect(settings), settings)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every URL at INFO, and Splunk's webhook URL carries its token: keep them quiet
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]


# --- the stack ---------------------------------------------------------------------------


LogsVerbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Debug logging, on the terminal as well as in the log file.")
]


def _log_to_file(settings: Settings, state_dir: Path | None, command: str, verbose: bool, screen: Console) -> Problems:
    """The components' log lines to .state/riposte-<command>.log; errors still named on `screen`."""
    from cli.logs import log_path, log_to_file

    path = log_path(state_dir or settings.riposte_state_dir, command)
    on_error = None
    if command == "dev" and not verbose:  # the demo's live view names errors itself

        def on_error(notice: str) -> None:
            screen.print(Text(f"⚠ {notice}", style="bold red"), soft_wrap=True)

    return log_to_file(path, verbose=verbose, console=screen, on_error=on_error)


def _run_logged(coro: Coroutine[Any, Any, T], problems: Problems) -> T:
    """Run; a failure that ends the command is one line here, its traceback in the log file."""
    try:
        return run(coro)
    except typer.Exit:
        raise
    except (Exception, SystemExit) as exc:  # SystemExit: uvicorn's answer to a port already taken
        if isinstance(exc, SystemExit) and not exc.code:
            raise
        logging.getLogger("riposte").error("stopped by an error", exc_info=exc, extra={"on_screen": True})
        reason = problems.first if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        err.print(Text(f"stopped by an error: {reason} (details in {problems.path})", style="red"), soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def dev(
    temporal_port: Annotated[int, typer.Option(help="Port of the embedded Temporal frontend.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Port of the Temporal UI.")] = 8233,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Where the Temporal SQLite file and the logs live (default RIPOSTE_STATE_DIR)."),
    ] = None,
    verbose: LogsVerbose = False,
) -> None:
    """The whole embedded stack in one process tree, until Ctrl-C.

    Starts the Temporal dev server (with its UI, persistent under the state folder) unless
    TEMPORAL_ADDRESS is set, then the worker, the webhook gateway and the Akku and Slack
    simulators; prints every URL and the webhook credentials. Ctrl-C stops all of it.

    The log lines of the worker, gateway, simulators, uvicorn and the Temporal SDK go to
    riposte-dev.log in the state folder (the banner prints its path; the Temporal server's
    own log is temporal.log beside it); an error is also named on the terminal in one line.
    --verbose writes every line to the terminal too.
    """
    from cli.stack import StackOptions, run_stack

    settings = settings_or_exit()
    problems = _log_to_file(settings, state_dir, "dev", verbose, console)
    options = StackOptions(temporal_port=temporal_port, ui_port=ui_port, state_dir=state_dir, log_file=problems.path)
    _run_logged(run_stack(settings, options, console), problems)


@app.command()
def demo(
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Decide approval requests as the analyst would, unattended.")
    ] = False,
    exit_after: Annotated[
        bool,
        typer.Option(
            "--exit",
            help="Exit after the summary instead of leaving the stack running: 0 when every attack got its "
            "response and every false positive was left alone, 1 otherwise.",
        ),
    ] = False,
    temporal_port: Annotated[int, typer.Option(help="Port of the embedded Temporal frontend.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Port of the Temporal UI.")] = 8233,
    verbose: LogsVerbose = False,
) -> None:
    """`riposte dev`, then the attacks of docs/rules.md fired through the real webhook path.

    Each scenario's events appear in the Akku simulator and its SIEM alert is POSTed to the
    gateway in that SIEM's own format. A live view shows one row per scenario: the SIEM that
    carried it, its stage, score and decision, whether Riposte's own detection from Akku's
    stream caught it too, and a link to its run in the Temporal UI; below it, the people
    waiting for a decision, with the Slack simulator's page to click in and the
    `riposte approve <actor>` command. A summary table closes it. False-positive scenarios
    are shown ending without a lock.

    The log lines of the worker, gateway, simulators, uvicorn and the Temporal SDK go to
    riposte-demo.log in the state folder (RIPOSTE_STATE_DIR, default .state), not to the
    screen; its path is printed at the start and the end, and the live view names the latest
    error in one line. --verbose writes every line to the terminal too.
    """
    from cli.demo import run_demo
    from cli.stack import StackOptions

    settings = settings_or_exit()
    problems = _log_to_file(settings, None, "demo", verbose, console)
    options = StackOptions(temporal_port=temporal_port, ui_port=ui_port, quiet=True, log_file=problems.path)
    code = _run_logged(
        run_demo(
            settings, options, auto_approve=auto_approve, exit_after=exit_after, console=console, problems=problems
        ),
        problems,
    )
    raise typer.Exit(code)


@app.command()
def worker(verbose: Verbose = False) -> None:
    """The Temporal worker alone: the unit you scale out (run several against one cluster)."""
    from worker import serve

    setup_logging(verbose)
    settings = settings_or_exit()
    run(serve(settings))


@app.command()
def gateway(verbose: Verbose = False) -> None:
    """The webhook gateway alone (stateless: run several behind a load balancer).

    Listens on RIPOSTE_HTTP_HOST:RIPOSTE_HTTP_PORT; needs RIPOSTE_WEBHOOK_TOKEN and/or
    RIPOSTE_WEBHOOK_SECRET when not part of `riposte dev`.
    """
    from gateway.server import run as run_gateway

    setup_logging(verbose)
    settings = settings_or_exit()
    if not settings.webhook_auth_configured:
        err.print(
            "[red]set RIPOSTE_WEBHOOK_TOKEN and/or RIPOSTE_WEBHOOK_SECRET: the gateway accepts nothing unauthenticated[/red]"
        )
        raise typer.Exit(2)
    run_gateway(settings)


@simulate.command("akku")
def simulate_akku(
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", "-s", help="Load a scenario at start (repeatable).")
    ] = None,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8081,
    seed: Annotated[int, typer.Option(help="Seed for reproducible synthetic data.")] = 7,
    list_scenarios: Annotated[bool, typer.Option("--list", help="List the scenarios and exit.")] = False,
    fault_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Fail this share of API requests from the start (0.3 = 30%).")
    ] = 0.0,
    fault_kinds: Annotated[
        str, typer.Option(help="Comma-separated: 429, 500, 502, 503, timeout, bad_json, drop.")
    ] = "429,500,503,timeout,bad_json,drop",
    retry_after: Annotated[int, typer.Option(help="Retry-After seconds on injected 429s.")] = 2,
    fault_paths: Annotated[
        str | None, typer.Option(help="Only requests whose path starts with this, e.g. /v1/users.")
    ] = None,
    stream_fault: Annotated[
        list[str] | None,
        typer.Option(
            "--stream-fault",
            help=(
                "A fault on the event stream (repeatable), KIND:key=value,...: "
                "disconnect:after_lines=50 (or rate=0.01; abrupt=true hangs up mid-response), "
                "5xx:rate=1,times=2,status=503 (on connect), "
                "bad_line:rate=0.01,shape=malformed|not_event, "
                "stall:after_lines=100,seconds=30 (nothing sent, not even heartbeats). "
                "Any rule takes times=N to strike N times in all."
            ),
        ),
    ] = None,
    heartbeat_seconds: Annotated[
        float, typer.Option(min=0.05, help="Idle seconds before the stream sends a heartbeat line.")
    ] = 15.0,
    max_events: Annotated[
        int,
        typer.Option(min=1_000, max=10_000_000, help="Retention cap: keep the newest N events (about 670 bytes each)."),
    ] = 250_000,
) -> None:
    """A local Akku API (docs/akku.md) with synthetic users, attack scenarios and faults.

    Uses AKKU_API_KEY as the key clients must present. Control endpoints under /_sim/ load
    scenarios, write events, run background traffic (POST /_sim/traffic), inject request and
    stream faults, and show the write log, the request log and the reads log (/_sim/reads,
    /_sim/reads/missing: which event ids no consumer read returned). See docs/akku.md.
    """
    from pydantic import ValidationError

    from simulators.akku import server as akku_server
    from simulators.akku.faults import Faults

    if list_scenarios:
        for name in akku_server.scenario_names():
            console.print(name)
        return
    settings = settings_or_exit()
    unknown = sorted(set(scenario or []) - set(akku_server.scenario_names()))
    if unknown:
        err.print(f"[red]unknown scenario(s): {', '.join(unknown)}; see --list[/red]")
        raise typer.Exit(2)
    faults: dict[str, object] | None = None
    if fault_rate:
        kinds = [k.strip() for k in fault_kinds.split(",") if k.strip()]
        bad = sorted(set(kinds) - set(akku_server.FAULT_KINDS))
        if bad:
            err.print(f"[red]unknown fault kind(s): {', '.join(bad)}[/red]")
            raise typer.Exit(2)
        faults = {"rate": fault_rate, "kinds": kinds, "retry_after": retry_after, "paths": fault_paths}
    if stream_fault:
        rules: list[dict[str, str]] = []
        for text in stream_fault:
            kind, _, options = text.partition(":")
            pairs = [p.partition("=") for p in options.split(",") if p.strip()]
            if any(not sep for _, sep, _ in pairs):
                err.print(f"[red]--stream-fault {text!r}: write KIND:key=value,...[/red]")
                raise typer.Exit(2)
            rules.append({"kind": kind.strip(), **{k.strip(): v.strip() for k, _, v in pairs}})
        faults = {**(faults or {}), "stream": rules}
    if faults:
        try:
            Faults.model_validate(faults)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            err.print(f"[red]bad fault settings: {where}: {first['msg']}[/red]")
            raise typer.Exit(2) from None
    config = akku_server.SimulatorConfig(
        api_key=settings.akku_api_key.get_secret_value(),
        seed=seed,
        scenarios=list(scenario or []),
        faults=faults,
        heartbeat_seconds=heartbeat_seconds,
        max_events=max_events,
    )
    console.print(f"Akku simulator on http://{host}:{port}/api  (scenarios: {', '.join(scenario or []) or 'none'})")
    akku_server.run(host, port, config)


@simulate.command("slack")
def simulate_slack(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8082,
    interactivity_url: Annotated[
        str | None, typer.Option(help="Where clicks are sent (default: the gateway's /slack/interactions).")
    ] = None,
) -> None:
    """A local Slack Web API and a page showing the channel, whose buttons send signed clicks."""
    from simulators.slack import server as slack_server

    settings = settings_or_exit()
    url = interactivity_url or (f"http://{settings.riposte_http_host}:{settings.riposte_http_port}/slack/interactions")
    console.print(f"Slack simulator on http://{host}:{port}/  (clicks go to {url})")
    slack_server.run(host, port, slack_server.config_from_settings(settings, interactivity_url=url))


# --- operators ---------------------------------------------------------------------------


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
    """Approve a run waiting for a decision, without Slack; recorded with your name.

    Without --option, the first option that acts is chosen (e.g. "Lock account").
    """
    raise typer.Exit(_decide(run_ref, True, option, operator))


@app.command()
def deny(run_ref: RunArg, operator: AsOpt = None) -> None:
    """Deny (dismiss as benign) a run waiting for a decision; recorded with your name."""
    raise typer.Exit(_decide(run_ref, False, None, operator))


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


def main() -> None:
    try:
        app()
    except SettingsError as exc:  # pragma: no cover - settings_or_exit handles the usual path
        err.print(f"[red]{exc}[/red]")
        sys.exit(2)
