"""`riposte`: run the stack, its parts, and the operator's tools.

Exit codes: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from cli.app import Verbose, app, console, err, run, settings_or_exit, setup_logging, simulate
from riposte.settings import Settings, SettingsError

if TYPE_CHECKING:
    from cli.logs import Problems

T = TypeVar("T")
__all__ = ["app", "main"]  # `app` with every command registered (tests drive it)

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


from cli import operate  # noqa: E402, F401 - the operator's commands, listed after the stack's


def main() -> None:
    try:
        app()
    except SettingsError as exc:  # pragma: no cover - settings_or_exit handles the usual path
        err.print(f"[red]{exc}[/red]")
        sys.exit(2)
