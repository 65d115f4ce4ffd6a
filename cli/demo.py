"""`riposte demo`: the embedded stack, then the attacks of docs/rules.md through the real path.

Each scenario writes its events into the Akku simulator, and its SIEM alert is POSTed
to the webhook gateway in that SIEM's own format (Splunk for credential stuffing,
Sentinel for impossible travel, Elastic for MFA fatigue, generic for the rest). The
runs then proceed exactly as in production: enrichment in Akku, scoring, guards,
automatic actions or a Slack approval. The terminal shows each run's stage live and
closes with a summary table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from cli import driver
from cli.operators import signed_decision, signer
from cli.stack import Stack, StackOptions, embedded_stack, print_banner
from riposte.models.runs import DECIDE, AlertRunOutcome, InvestigationStatus
from riposte.settings import Settings
from riposte.temporal import run_url

POLL_SECONDS = 0.5
CLICK_ATTEMPTS = 20
DEMO_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class Scenario:
    name: str  # the Akku simulator's scenario
    source: str  # the SIEM whose format carries the alert
    title: str
    false_positive: bool = False


SCENARIOS: Sequence[Scenario] = (
    Scenario("credential_stuffing", "splunk", "Credential stuffing: MFA failures across many accounts"),
    Scenario("impossible_travel", "sentinel", "Impossible travel: Chennai, then Frankfurt 20 minutes later"),
    Scenario("mfa_fatigue", "elastic", "MFA fatigue: a flood of push challenges, none approved"),
    Scenario("brute_force", "generic", "Brute force from one IP across several users"),
    Scenario("recovery_storm", "generic", "Recovery-attempt storm (social engineering)"),
    Scenario("dormant_account", "generic", "A dormant account wakes up"),
    Scenario("admin_elevation", "generic", "An admin grants a role outside their history"),
    Scenario("low_and_slow", "generic", "Low-and-slow password spraying"),
    Scenario("office_login_burst", "generic", "False positive: failures from the office network", True),
    Scenario("vpn_switch", "sentinel", "False positive: VPN egress looks like travel", True),
)


@dataclass
class Investigation:
    workflow_id: str
    scenario: Scenario
    alert_sent_at: datetime
    status: InvestigationStatus | None = None
    clicked: str | None = None  # request id already decided by --auto-approve
    attempts: int = 0  # clicks tried; Slack unreachable for long: decide from the CLI instead
    ended: bool = False

    @property
    def settled(self) -> bool:
        status = self.status
        return self.ended or (status is not None and status.pending is None and status.stage in driver.SETTLED)


@dataclass
class AlertRun:
    scenario: Scenario
    workflow_id: str | None = None
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    http_status: int | None = None
    error: str | None = None
    outcome: AlertRunOutcome | None = None
    investigations: list[Investigation] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    stream: str = ""  # whether Riposte's own detection from Akku's stream caught it too


async def run_demo(
    settings: Settings,
    options: StackOptions,
    *,
    auto_approve: bool,
    exit_after: bool,
    console: Console | None = None,
    record: list[AlertRun] | None = None,
) -> int:
    """Run the demo; `record` (for tests and scripts) receives every alert run and its investigations."""
    console = console or Console()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        return await _demo(
            settings, options, console, stop, auto_approve=auto_approve, exit_after=exit_after, record=record
        )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def _demo(
    settings: Settings,
    options: StackOptions,
    console: Console,
    stop: asyncio.Event,
    *,
    auto_approve: bool,
    exit_after: bool,
    record: list[AlertRun] | None,
) -> int:
    from cli.stack import detect_by_default  # `demo` detects from Akku's stream unless told otherwise

    async with embedded_stack(detect_by_default(settings), options) as stack:
        print_banner(stack, console)
        if not stack.akku_url:
            console.print("[red]the demo plays its scenarios into the local Akku simulator: unset AKKU_BASE_URL[/red]")
            return 1
        async with httpx.AsyncClient(timeout=30) as http:
            runs = await _fire(stack, http, console)
            if record is not None:
                record.extend(runs)
            settled = await _follow(stack, http, runs, console, auto_approve=auto_approve, stop=stop)
        await stream_coverage(stack, runs)
        console.print(_summary(stack, runs))
        if not settled:
            console.print("[yellow]some runs had not settled when the demo stopped following them[/yellow]")
        if exit_after or stop.is_set():
            return 0 if settled else 1
        console.print("The stack keeps running for you to explore. Ctrl-C stops it.")
        await stop.wait()
    return 0


# --- firing the alerts -------------------------------------------------------------------


async def _fire(stack: Stack, http: httpx.AsyncClient, console: Console) -> list[AlertRun]:
    runs: list[AlertRun] = []
    for scenario in SCENARIOS:
        run = AlertRun(scenario)
        runs.append(run)
        try:
            facts = await driver.load_scenario(http, stack, scenario.name)
            run.facts = facts
            run.sent_at = datetime.now(UTC)
            answer = await driver.deliver(http, stack, scenario.source, facts)
        except (driver.DriveError, httpx.HTTPError) as exc:
            run.error = str(exc)
            continue
        run.http_status = answer.status_code
        if answer.status_code != 202:
            run.error = f"gateway answered {answer.status_code}: {answer.text[:200]}"
            continue
        payload: dict[str, Any] = answer.json()
        entry = (payload.get("runs") or [payload])[0]
        run.workflow_id = entry["workflow_id"]
        console.print(f"[bold]{scenario.source:>8}[/bold] → {scenario.title}: [green]202 {entry['status']}[/green]")
    return runs


# --- following the runs ------------------------------------------------------------------


async def _follow(
    stack: Stack,
    http: httpx.AsyncClient,
    runs: list[AlertRun],
    console: Console,
    *,
    auto_approve: bool,
    stop: asyncio.Event,
) -> bool:
    client = stack.client
    deadline = asyncio.get_running_loop().time() + DEMO_TIMEOUT_SECONDS
    told_slack = False
    with Live(_progress(runs), console=console, refresh_per_second=4, transient=False) as live:
        while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
            for run in runs:
                await _poll_alert(client, run)
                for inv in run.investigations:
                    await _poll_investigation(client, inv)
                    pending = inv.status.pending if inv.status else None
                    if pending and auto_approve and inv.clicked != pending.request_id:
                        await _auto_decide(stack, http, client, inv)
            waiting = [i for r in runs for i in r.investigations if i.status and i.status.pending]
            if waiting and not auto_approve and not told_slack and stack.slack_url:
                told_slack = True
                live.console.print(
                    f"[bold yellow]{len(waiting)} run(s) wait for a person.[/bold yellow] "
                    f"Open the Slack simulator at {stack.slack_url} and click a decision "
                    "(or run `riposte approve <actor id>`)."
                )
            live.update(_progress(runs))
            if _all_settled(runs):
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
    return _all_settled(runs)


def _all_settled(runs: list[AlertRun]) -> bool:
    for run in runs:
        if run.error:
            continue
        if run.outcome is None:
            return False
        if not all(i.settled for i in run.investigations):
            return False
    return True


async def _poll_alert(client: Client, run: AlertRun) -> None:
    if run.workflow_id is None or run.outcome is not None or run.error:
        return
    handle = client.get_workflow_handle(run.workflow_id)
    description = await handle.describe()
    if description.status == WorkflowExecutionStatus.COMPLETED:
        run.outcome = await client.get_workflow_handle(run.workflow_id, result_type=AlertRunOutcome).result()
        run.investigations = [Investigation(wid, run.scenario, run.sent_at) for wid in run.outcome.investigations]
    elif description.status not in (None, WorkflowExecutionStatus.RUNNING):
        run.error = f"alert run ended {description.status.name.lower()}"


async def _poll_investigation(client: Client, inv: Investigation) -> None:
    if inv.settled:
        return
    status = await driver.investigation_status(client, inv.workflow_id)
    if status is None:
        inv.ended = True
    else:
        inv.status = status


async def _auto_decide(stack: Stack, http: httpx.AsyncClient, client: Client, inv: Investigation) -> None:
    """Decide as the analyst would: through a signed Slack click, or from the CLI if Slack is away."""
    assert inv.status is not None and inv.status.pending is not None
    pending = inv.status.pending
    options = pending.assessment.options
    benign = next((o for o in options if not o.actions), None)
    act = next((o for o in options if o.actions), None)
    chosen = benign if inv.scenario.false_positive else (act or benign)
    if chosen is None:
        return
    if stack.slack_url and inv.attempts < CLICK_ATTEMPTS:
        inv.attempts += 1
        user = stack.settings.slack_approver_ids[0]
        answer = await driver.click(http, stack, inv.workflow_id, pending.request_id, chosen.id, user)
        if answer.status_code == 200:
            inv.clicked = pending.request_id
        return  # not posted yet (404): try again at the next poll
    me = signer(stack.settings, None)
    if me is None:
        return
    inv.clicked = pending.request_id
    await client.get_workflow_handle(inv.workflow_id).execute_update(
        DECIDE, signed_decision(me, inv.workflow_id, pending.request_id, chosen.id)
    )


# --- screens -----------------------------------------------------------------------------


def _stage_text(inv: Investigation) -> Text:
    status = inv.status
    if status is None:
        return Text("opening", style="dim")
    style = {
        "acted": "bold red",
        "approved": "bold red",
        "waiting_for_approval": "bold yellow",
        "dismissed": "green",
        "observed": "green",
        "notified": "cyan",
        "timed_out": "magenta",
    }.get(status.stage, "")
    return Text(status.stage.replace("_", " "), style=style)


def _progress(runs: list[AlertRun]) -> Group:
    table = Table(title="Riposte demo: live", expand=True)
    for column in ("scenario", "via", "actor", "stage", "score"):
        table.add_column(column, overflow="fold")
    for run in runs:
        if run.error:
            table.add_row(run.scenario.name, run.scenario.source, "", Text(run.error, style="red"), "")
            continue
        if not run.investigations:
            stage = "enriching" if run.workflow_id else "sending"
            table.add_row(run.scenario.name, run.scenario.source, "", Text(stage, style="dim"), "")
            continue
        for i, inv in enumerate(run.investigations[:6]):
            score = f"{inv.status.score:.0f}" if inv.status and inv.status.score is not None else ""
            table.add_row(
                run.scenario.name if i == 0 else "",
                run.scenario.source if i == 0 else "",
                inv.workflow_id.removeprefix("investigation-"),
                _stage_text(inv),
                score,
            )
        if len(run.investigations) > 6:
            rest = run.investigations[6:]
            done = sum(1 for i in rest if i.settled)
            table.add_row("", "", f"… {len(rest)} more", Text(f"{done} settled"), "")
    return Group(table)


def _summary(stack: Stack, runs: list[AlertRun]) -> Group:
    settings = stack.settings
    table = Table(title="Riposte demo: what happened", expand=True)
    columns = ("scenario", "actor", "score", "decision", "actions in Akku", "alert → action", "Akku stream")
    for column in columns:
        table.add_column(column, overflow="fold")
    for run in runs:
        label = run.scenario.name + (" (false positive)" if run.scenario.false_positive else "")
        stream = run.stream
        if run.error:
            table.add_row(label, "", "", Text(run.error, style="red"), "", "", stream)
            continue
        for inv in run.investigations:
            status = inv.status
            decisions = status.decisions if status else []
            decision = decisions[-1] if decisions else None
            actions = ", ".join(f"{r.action.value} {r.status}" for d in decisions for r in d.results)
            elapsed = ""
            if decision is not None and decision.results:
                elapsed = f"{(decision.at - inv.alert_sent_at).total_seconds():.1f} s"
            link = run_url(settings.ui_url, settings.temporal_namespace, inv.workflow_id)
            actor = inv.workflow_id.removeprefix("investigation-")
            table.add_row(
                label,
                Text(actor, style=f"link {link}") if link else actor,
                f"{status.score:.0f}" if status and status.score is not None else "",
                decision.label if decision else (status.stage if status else "?"),
                actions or "none",
                elapsed,
                stream,
            )
            label = stream = ""
    footer = Text(
        f"Each actor links to its run; all runs: {settings.ui_url}/namespaces/{settings.temporal_namespace}/workflows"
        if settings.ui_url
        else ""
    )
    return Group(table, footer)


STREAM_DETECTIONS = {
    "credential_stuffing",
    "brute_force",
    "recovery_storm",
    "mfa_fatigue",
    "impossible_travel",
    "dormant_account",
}
STREAM_GRACE_SECONDS = 20.0  # the detector may still be reading the last scenario's events


async def stream_coverage(stack: Stack, runs: list[AlertRun]) -> None:
    """Mark each scenario with whether the detector's own alert runs reached its people too."""
    from cli.detect import read_status

    settings = stack.settings
    if settings.riposte_detect == "off":
        for run in runs:
            run.stream = "off"
        return
    client = stack.client
    deadline = asyncio.get_running_loop().time() + STREAM_GRACE_SECONDS
    reached: dict[str, set[str]] = {}  # detection -> investigation ids of the detector's runs
    seen: set[str] = set()
    while True:
        status = await read_status(client, settings.temporal_task_queue)
        firings = status.checkpoint.firings if status and status.checkpoint else []
        for firing in firings:
            if not firing.workflow_id or firing.workflow_id in seen:
                continue
            with contextlib.suppress(TimeoutError, RPCError, WorkflowFailureError):
                outcome = await driver.alert_outcome(client, firing.workflow_id, timeout=10)
                reached.setdefault(outcome.detection.value, set()).update(outcome.investigations)
                seen.add(firing.workflow_id)
        pending = [r for r in runs if _stream_verdict(r, reached) == "no" and not r.scenario.false_positive]
        if not pending or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(1.0)
    for run in runs:
        run.stream = _stream_verdict(run, reached)


def _stream_verdict(run: AlertRun, reached: dict[str, set[str]]) -> str:
    detection = str(run.facts.get("detection", ""))
    if detection not in STREAM_DETECTIONS:
        return "no stream rule"
    people = {f"investigation-{a}" for a in run.facts.get("actor_ids", [])}
    caught = bool(people & reached.get(detection, set()))
    if run.scenario.false_positive:
        return "fired (playbook decided)" if caught else "stayed quiet"
    return "yes" if caught else "no"


def summary_json(runs: list[AlertRun]) -> str:
    """The summary as JSON (for scripts and tests)."""
    rows = []
    for run in runs:
        for inv in run.investigations:
            status = inv.status
            rows.append(
                {
                    "scenario": run.scenario.name,
                    "false_positive": run.scenario.false_positive,
                    "workflow_id": inv.workflow_id,
                    "akku_stream": run.stream,
                    "stage": status.stage if status else None,
                    "score": status.score if status else None,
                    "actions": [
                        r.model_dump(mode="json") for d in (status.decisions if status else []) for r in d.results
                    ],
                }
            )
    return json.dumps(rows, indent=2)
