"""What one alert costs Temporal: every workflow it causes, counted from their histories.

Runs on a stack of its own whose playbooks close an investigation after a 3 s quiet period
(instead of an hour), so each investigation's whole life, its close included, is in its
history when it is counted. Per scenario: the alert runs and the investigations started on
the stack's task queue since the alert was sent (a visibility query), each run's history
(`fetch_history`), and the governor's share: the part of its history written meanwhile.
The bare workflow and the floor are counted from one run of each, beside them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from bench import actions, floor, skeleton
from bench.actions import Counts
from bench.cpu import CpuMeter
from bench.sims import simulators
from cli import driver
from cli.rig import terminate_open_workflows
from cli.stack import Stack, StackOptions, embedded_stack
from riposte.models.governor import governor_workflow_id
from riposte.settings import Settings

QUIET = "3s"
SKELETON = "skeleton: the invariants' commands (one-person alert)"


@dataclass
class Accounted:
    figure: str
    per: str  # what one item is: "run", "alert", "person"
    items: int
    by_type: dict[str, Counts] = field(default_factory=dict)  # workflow type -> totals
    cpu: dict[str, float] = field(default_factory=dict)  # ms per item by process (empty: taken elsewhere)
    still_open: int = 0  # runs still open when counted (waiting on a person)
    people: int = 1  # people the alert named

    @property
    def each(self) -> Counts:
        total = Counts()
        for counts in self.by_type.values():
            total = total + counts
        return total.per(self.items)


def quick_close(playbooks: Path) -> None:
    """Every playbook's correlation window (the investigation's quiet period) cut to 3 s."""
    for path in playbooks.glob("*.yaml"):
        lines = [
            f"correlation_window: {QUIET}" if line.startswith("correlation_window:") else line
            for line in path.read_text().splitlines()
        ]
        path.write_text("\n".join(lines) + "\n")


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _histories(client: Client, query: str) -> list[tuple[str, list[HistoryEvent]]]:
    gate = asyncio.Semaphore(16)

    async def one(workflow_id: str, run_id: str | None, kind: str) -> tuple[str, list[HistoryEvent]]:
        async with gate:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            return kind, list(history.events)

    executions = [e async for e in client.list_workflows(query)]
    return await asyncio.gather(*(one(e.id, e.run_id, e.workflow_type) for e in executions))


async def _settle(client: Client, query: str, expected: int, timeout: float) -> int:
    """Until at least `expected` runs match `query` and none is running; or until nothing has
    started or closed for 15 s (the rest wait on a person, or were never started: an alert
    may open fewer investigations than it names). Returns how many are still open."""
    deadline = time.monotonic() + timeout
    running, changed, last = 0, time.monotonic(), (-1, -1)
    while time.monotonic() < deadline:
        total = (await client.count_workflows(query)).count
        running = (await client.count_workflows(f"({query}) AND ExecutionStatus = 'Running'")).count
        if total >= expected and running == 0:
            return 0
        if (total, running) != last:
            last, changed = (total, running), time.monotonic()
        elif time.monotonic() - changed > 15:
            return running
        await asyncio.sleep(0.5)
    return running


def _by_type(found: Iterable[tuple[str, list[HistoryEvent]]]) -> dict[str, Counts]:
    result: dict[str, Counts] = {}
    for kind, events in found:
        result[kind] = result.get(kind, Counts()) + actions.count(events)
    return result


async def alert(stack: Stack, figure: str, scenario: str, actor_ids: list[str], per: str, items: int) -> Accounted:
    """One alert about `actor_ids`, people no investigation has seen: a closed investigation is
    not reopened, so people of an earlier scenario would open fewer runs than the alert names."""
    client, queue = stack.client, stack.settings.temporal_task_queue
    people = len(actor_ids)
    async with httpx.AsyncClient(timeout=120) as http:
        facts = await driver.load_scenario(http, stack, scenario, actor_ids=actor_ids)
        if people == 1:
            facts["source_ips"] = []  # one person per alert, as in the sustained figure
        since = datetime.now(UTC)
        meter = CpuMeter.for_bench().start()
        answer = await driver.deliver(http, stack, "generic", facts, alert_id=f"acct-{uuid.uuid4()}")
        assert answer.status_code == 202, answer.text
        body = answer.json()
        runs = [r["workflow_id"] for r in body.get("runs") or [body]]
        for run in runs:
            await client.get_workflow_handle(run).result()
        query = f"TaskQueue = '{queue}' AND StartTime >= '{_stamp(since)}'"
        still_open = await _settle(client, query, len(runs) + len(facts["actor_ids"]), 120 + people)
        cpu = meter.stop().per_item(items)
    until = datetime.now(UTC)
    by_type = _by_type(await _histories(client, query))
    governor = Counts()
    for _, events in await _histories(client, f"WorkflowId = '{governor_workflow_id(queue)}'"):
        governor = governor + actions.count(events, since=since, until=until)
    by_type["ActionGovernor (its share)"] = governor
    return Accounted(figure, per, items, by_type, cpu, still_open, people)


async def one_run(client: Client, workflow: str, arg: object, queue: str, figure: str) -> Accounted:
    handle = await client.start_workflow(
        workflow, *([arg] if arg is not None else []), id=f"bench-acct-{uuid.uuid4()}", task_queue=queue
    )
    await handle.result()
    history = await handle.fetch_history()
    return Accounted(figure, "run", 1, {workflow: actions.count(history.events)})


async def account(
    client: Client, settings: Settings, bare_queue: str, *, storm: int, first: int, console: Console
) -> list[Accounted]:
    """The bare workflow, the floor, a one-person alert, a 100-person alert and a storm of
    `storm` people, on a stack of its own (`settings`: its playbooks close after 3 s)."""
    results = []
    # investigation ids are the namespace's: people from u_{10001 + first} up, whom no earlier
    # figure's investigation (still open, on another queue) has seen
    staff = first + storm + 1000
    queue = settings.temporal_task_queue
    try:
        async with (
            embedded_stack(settings, StackOptions(quiet=True, akku_staff=staff)) as stack,
            simulators(stack, staff) as sims,
        ):
            results.append(await one_run(client, "BenchThreeActivities", None, bare_queue, "bare 3-activity workflow"))
            async with httpx.AsyncClient(timeout=30) as http:
                actor = (await driver.load_scenario(http, stack, "mfa_fatigue"))["actor_ids"][0]
            async with floor.worker(client, stack, f"{queue}-floor"):
                results.append(await one_run(client, "BenchFloor", actor, f"{queue}-floor", "floor"))
            async with httpx.AsyncClient(timeout=30) as http:
                actor = (await driver.load_scenario(http, stack, "mfa_fatigue"))["actor_ids"][0]
            async with skeleton.worker(client, stack, f"{queue}-skeleton"):
                results.append(
                    Accounted(
                        SKELETON,
                        "alert",
                        1,
                        await skeleton.one_alert(client, f"{queue}-skeleton", actor, quiet=3.0),
                    )
                )
            taken = first

            def fresh(count: int) -> list[str]:  # people of their own for each alert
                nonlocal taken
                taken += count
                return [f"u_{10001 + taken - count + n}" for n in range(count)]

            await alert(
                stack, "warm-up", "mfa_fatigue", fresh(1), "alert", 1
            )  # starts the governor: not an alert's cost
            for figure, scenario, people, per, items in (
                ("one-person alert (MFA fatigue), acted on", "mfa_fatigue", 1, "alert", 1),
                ("100-person alert (credential stuffing)", "credential_stuffing", 100, "alert", 1),
                (
                    f"storm of {storm} (credential stuffing, limit lifted)",
                    "credential_stuffing",
                    storm,
                    "person",
                    storm,
                ),
            ):
                # fresh simulators: an alert also takes in everyone seen from its IPs, and the
                # last scenario's people were seen from the same attacking addresses
                await sims.restart(staff)
                console.print(f"accounting: {figure} …")
                results.append(await alert(stack, figure, scenario, fresh(people), per, items))
    finally:
        await terminate_open_workflows(client, queue)
    return results


COLUMNS = (
    "figure",
    "per",
    "CPU per item",
    "history events",
    "workflow tasks",
    "activities",
    "local activities (tasks)",
    "timers",
    "signals (with start)",
    "updates",
    "upserts (billed)",
    "starts",
    "Actions",
    "$ per 10,000 items",
)


def _n(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def rows(results: list[Accounted], cpu: dict[str, str]) -> list[list[str]]:
    """The table's rows; `cpu` gives the CPU column of a figure measured elsewhere (the
    interleaved rounds' medians), otherwise this run's own CPU per item is shown."""
    table = []
    for r in results:
        views = [(r.figure, r.per, r.each, r.cpu)]
        if r.per == "alert" and r.people > 1:  # a many-person alert: per person as well
            views.append(
                (f"{r.figure}, per person", "person", r.each.per(r.people), {p: v / r.people for p, v in r.cpu.items()})
            )
        for figure, per, each, own in views:
            shown = cpu.get(figure) or (
                f"{sum(own.values()):.0f} ms (" + " + ".join(f"{p} {v:.0f}" for p, v in own.items()) + ")"
                if own
                else ""
            )
            open_note = f" ({r.still_open} still open)" if r.still_open and figure == r.figure else ""
            table.append(
                [
                    figure + open_note,
                    per,
                    shown,
                    _n(each.events),
                    _n(each.workflow_tasks),
                    _n(each.activities + each.activity_retries),
                    f"{_n(each.local_activities)} ({_n(each.local_activity_tasks)})",
                    _n(each.timers),
                    f"{_n(each.signals)} ({_n(each.signal_with_starts)})",
                    _n(each.updates),
                    f"{_n(each.upserts)} ({_n(each.upserts - each.change_version_upserts)})",
                    _n(each.starts),
                    _n(each.actions)
                    + (f" + ≤ {each.heartbeats_estimated:.2g} heartbeats" if each.heartbeats_estimated else ""),
                    f"${actions.cost(each.actions):.2f} (${actions.cost(each.actions, price_per_million=actions.PRICE_PER_MILLION_AT_VOLUME):.2f})",
                ]
            )
    return table


def breakdown(results: list[Accounted]) -> list[str]:
    """One line per figure: its Actions per item by kind and by workflow type."""
    lines = []
    for r in results:
        kinds = ", ".join(f"{k} {_n(v)}" for k, v in r.each.breakdown().items() if v)
        types = ", ".join(f"{k} {_n(c.per(r.items).actions)}" for k, c in r.by_type.items() if c.events)
        lines.append(f"- {r.figure}, per {r.per}: {kinds} (by workflow: {types})")
    return lines
