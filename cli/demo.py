"""`riposte demo`: the embedded stack, then the attacks of docs/rules.md through the real path.

Each scenario writes its events into the Akku simulator, and its SIEM alert is POSTed
to the webhook gateway in that SIEM's own format (Splunk for credential stuffing,
Sentinel for impossible travel, Elastic for MFA fatigue, generic for the rest). The
runs then proceed exactly as in production: enrichment in Akku, scoring, guards,
automatic actions or a Slack approval. The terminal shows a live view of the runs
(cli/demo_view.py) and closes with a summary table; the components' log lines go to a
file (cli/logs.py), not to the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from cli import driver
from cli.demo_view import ViewContext, actions_taken, live_view, summary
from cli.logs import Problems
from cli.operators import signed_decision, signer
from cli.stack import Stack, StackOptions, embedded_stack, print_banner
from riposte.models.runs import DECIDE, AlertRunOutcome, InvestigationStatus
from riposte.settings import Settings

log = logging.getLogger("riposte.demo")

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
    problems: Problems | None = None,
) -> int:
    """Run the demo; `record` (for tests and scripts) receives every alert run and its investigations.

    `problems` counts the components' errors (their log lines go to a file): the live view
    names the latest in one line. Returns 0 when every attack got its response and every
    false positive was left alone, 1 otherwise.
    """
    console = console or Console()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        return await _demo(
            settings,
            options,
            console,
            stop,
            auto_approve=auto_approve,
            exit_after=exit_after,
            record=record,
            problems=problems,
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
    problems: Problems | None,
) -> int:
    from cli.stack import detect_by_default  # `demo` detects from Akku's stream unless told otherwise

    log_file = problems.path if problems else options.log_file
    async with embedded_stack(detect_by_default(settings), options) as stack:
        print_banner(stack, console, log_file)
        if not stack.akku_url:
            console.print("[red]the demo plays its scenarios into the local Akku simulator: unset AKKU_BASE_URL[/red]")
            return 1
        settings = stack.settings
        ctx = ViewContext(
            settings.ui_url, settings.temporal_namespace, stack.slack_url, auto_approve, log_file, problems
        )
        runs = [AlertRun(scenario) for scenario in SCENARIOS]
        if record is not None:
            record.extend(runs)
        watch = StreamWatch()
        with Live(get_renderable=lambda: live_view(runs, ctx), console=console, refresh_per_second=4, transient=True):
            watching = asyncio.create_task(watch.follow(stack, runs, stop))
            try:
                async with httpx.AsyncClient(timeout=30) as http:
                    await _fire(stack, http, runs)
                    settled = await _follow(stack, http, runs, auto_approve=auto_approve, stop=stop)
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            await watch.finish(stack, runs, stop)
        console.print(live_view(runs, ctx, final=True))
        console.print(summary(runs, ctx))
        ok = settled and all(expected_response(run) for run in runs)
        if not settled:
            console.print("[yellow]some runs had not settled when the demo stopped following them[/yellow]")
        elif not ok:
            missed = ", ".join(r.scenario.name for r in runs if not expected_response(r))
            console.print(f"[red]not the expected response: {missed}[/red]")
        if problems and problems.count:
            console.print(f"[red]⚠ {problems.notice()}[/red]")
        if log_file is not None:
            console.print(f"Logs of this run: {log_file}", soft_wrap=True)
        if exit_after or stop.is_set():
            return 0 if ok else 1
        console.print("The stack keeps running for you to explore. Ctrl-C stops it.")
        await stop.wait()
    return 0


def expected_response(run: AlertRun) -> bool:
    """An attack ends with an action taken in Akku; a false positive with none."""
    if run.error or not run.investigations:
        return False
    acted = any(actions_taken(inv) for inv in run.investigations)
    return not acted if run.scenario.false_positive else acted


# --- firing the alerts -------------------------------------------------------------------


async def _fire(stack: Stack, http: httpx.AsyncClient, runs: list[AlertRun]) -> None:
    for run in runs:
        try:
            facts = await driver.load_scenario(http, stack, run.scenario.name)
            run.facts = facts
            run.sent_at = datetime.now(UTC)
            answer = await driver.deliver(http, stack, run.scenario.source, facts)
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


# --- following the runs ------------------------------------------------------------------


async def _follow(
    stack: Stack,
    http: httpx.AsyncClient,
    runs: list[AlertRun],
    *,
    auto_approve: bool,
    stop: asyncio.Event,
) -> bool:
    client = stack.client
    deadline = asyncio.get_running_loop().time() + DEMO_TIMEOUT_SECONDS
    while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
        for run in runs:
            await _poll_alert(client, run)
            for inv in run.investigations:
                await _poll_investigation(client, inv)
                pending = inv.status.pending if inv.status else None
                if pending and auto_approve and inv.clicked != pending.request_id:
                    await _auto_decide(stack, http, client, inv)
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


# --- Riposte's own detection from Akku's stream ------------------------------------------


STREAM_DETECTIONS = {
    "credential_stuffing",
    "brute_force",
    "recovery_storm",
    "mfa_fatigue",
    "impossible_travel",
    "dormant_account",
}
STREAM_GRACE_SECONDS = 20.0  # the detector may still be reading the last scenario's events
STREAM_LOOK_SECONDS = 2.0


@dataclass
class StreamWatch:
    """The people the detector's own alert runs reached, by detection, to compare with each scenario."""

    reached: dict[str, set[str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    async def look(self, stack: Stack, *, timeout: float) -> None:
        from cli.detect import read_status

        client = stack.client
        status = await read_status(client, stack.settings.temporal_task_queue)
        firings = status.checkpoint.firings if status and status.checkpoint else []
        for firing in firings:
            if not firing.workflow_id or firing.workflow_id in self.seen:
                continue
            with contextlib.suppress(TimeoutError, RPCError, WorkflowFailureError):
                outcome = await driver.alert_outcome(client, firing.workflow_id, timeout=timeout)
                self.reached.setdefault(outcome.detection.value, set()).update(outcome.investigations)
                self.seen.add(firing.workflow_id)

    async def follow(self, stack: Stack, runs: list[AlertRun], stop: asyncio.Event) -> None:
        """While the runs proceed: mark the scenarios the detector has caught so far."""
        while stack.settings.riposte_detect != "off" and not stop.is_set():
            try:
                await self.look(stack, timeout=STREAM_LOOK_SECONDS)
            except RPCError:
                log.warning("could not read the detector's status", exc_info=True)
            for run in runs:
                verdict = _stream_verdict(run, self.reached) if run.facts else ""
                run.stream = "" if verdict in ("no", "stayed quiet") else verdict  # not yet: it may still
            await asyncio.sleep(STREAM_LOOK_SECONDS)

    async def finish(self, stack: Stack, runs: list[AlertRun], stop: asyncio.Event) -> None:
        """Give the detector a grace period for the last scenarios' events, then settle each verdict."""
        if stack.settings.riposte_detect == "off":
            for run in runs:
                run.stream = "off"
            return
        deadline = asyncio.get_running_loop().time() + STREAM_GRACE_SECONDS
        while True:
            await self.look(stack, timeout=10)
            for run in runs:
                run.stream = _stream_verdict(run, self.reached)
            missed = [r for r in runs if r.stream == "no" and not r.scenario.false_positive]
            if not missed or stop.is_set() or asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(1.0)


def _stream_verdict(run: AlertRun, reached: dict[str, set[str]]) -> str:
    detection = str(run.facts.get("detection", ""))
    if detection not in STREAM_DETECTIONS:
        return "no stream rule"
    people = {f"investigation-{a}" for a in run.facts.get("actor_ids", [])}
    caught = bool(people & reached.get(detection, set()))
    if run.scenario.false_positive:
        return "fired (playbook decided)" if caught else "stayed quiet"
    return "yes" if caught else "no"
