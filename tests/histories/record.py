"""Record workflow histories from real runs into tests/histories/ (`make histories`).

Runs the embedded stack against a throwaway Temporal dev server, plays scenarios through
the real gateway, lets each investigation reach its decision (an automatic action, and
an approval clicked in the Slack simulator), then exports every workflow's history. The
replay test (tests/test_histories.py) replays them against the code of every later
commit. Existing files are never overwritten: a workflow change must keep replaying the
histories of runs started before it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from cli.devserver import find_binary
from cli.driver import Fired, deliver, investigation_status, load_scenario, settle
from cli.rig import register_search_attributes, running_stack, start_dev_server
from cli.stack import Stack
from riposte import search_attributes
from riposte.temporal import data_converter
from tests.histories.timed import REAL_TIME, record_timed

OUT = Path(__file__).parent


async def stack_branches(stack: Stack) -> list[tuple[str, str]]:
    """Every branch the real stack reaches without waiting: (name, workflow id) pairs."""
    import httpx

    from cli.emergency import pause_actions, resume_actions

    runs: list[tuple[str, str]] = []

    async def fired(name: str, scenario: str, approve: bool | None, **options: object) -> dict[str, str]:
        async with httpx.AsyncClient() as http:
            facts = await load_scenario(http, stack, scenario, **options)
            answer = await deliver(http, stack, "generic", facts)
        answer.raise_for_status()
        shot = Fired(scenario, "generic", facts, answer.json()["workflow_id"], "started", facts["window_end"])
        runs.append((f"{name}-alert", shot.alert_workflow_id))
        statuses = await settle(stack, shot, approve=approve, timeout=120)
        return {s.actor_id: w for w, s in statuses.items()}

    acted = await fired("act", "mfa_fatigue", None)
    runs.append(("act", next(iter(acted.values()))))
    approved = await fired("approve-by-click", "dormant_account", True)
    runs.append(("approve-by-click", next(iter(approved.values()))))
    denied = await fired("deny", "impossible_travel", False)
    runs.append(("deny", next(iter(denied.values()))))
    quiet = await fired("notify-observe", "office_login_burst", None)
    runs += [(f"notify-observe-{n}", w) for n, w in enumerate(list(quiet.values())[:3])]
    storm = await fired("governor-refusal", "credential_stuffing", None, count=30)
    by_stage: dict[str, str] = {}
    for workflow_id in storm.values():
        status = await investigation_status(stack.client, workflow_id)
        if status is not None:
            by_stage.setdefault(str(status.stage), workflow_id)
    runs += [(f"governor-{stage}", w) for stage, w in by_stage.items()]
    # a second finding about a person who is waiting for a decision: merged, asked once
    waiting = await fired("merged-first", "dormant_account", None)
    actor, workflow_id = next(iter(waiting.items()))
    async with httpx.AsyncClient() as http:
        facts = await load_scenario(http, stack, "impossible_travel", actor_ids=[actor])
        answer = await deliver(http, stack, "generic", facts)
    answer.raise_for_status()
    second = Fired("impossible_travel", "generic", facts, answer.json()["workflow_id"], "started", facts["window_end"])
    await settle(stack, second, approve=True, timeout=120)
    runs.append(("merged-while-waiting", workflow_id))
    # the emergency stop: an automatic decision goes to a person
    await pause_actions(stack.client, stack.settings, by="histories", reason="recording")
    paused = await fired("paused", "mfa_fatigue", True)
    runs.append(("paused", next(iter(paused.values()))))
    await resume_actions(stack.client, stack.settings, by="histories")
    runs.append(("governor", f"riposte-action-governor/{stack.settings.temporal_task_queue}"))
    return runs


async def governor_continue_as_new(env: WorkflowEnvironment) -> WorkflowHistory:
    """A governor past its update budget continues as new on its own task queue."""
    import uuid

    from temporalio.worker import Worker

    from riposte.models.governor import ACQUIRE, GovernorInput, PermitDecision, PermitRequest
    from workflows.governor import MAX_UPDATES_PER_RUN, ActionGovernor

    queue = f"governor-{uuid.uuid4().hex[:8]}-governor"
    async with Worker(env.client, task_queue=queue, workflows=[ActionGovernor]):
        handle = await env.client.start_workflow("ActionGovernor", GovernorInput(), id=f"gov-{queue}", task_queue=queue)
        for n in range(MAX_UPDATES_PER_RUN):
            request = PermitRequest(key=f"k{n}", limit=10_000, window_seconds=3600)
            await handle.execute_update(ACQUIRE, request, result_type=PermitDecision)
        first = env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id or handle.result_run_id)
        for _ in range(200):
            if (await first.describe()).status.name != "RUNNING":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        history = await first.fetch_history()
        await env.client.get_workflow_handle(handle.id).terminate("recorded")
        return history


def _write(tag: str, name: str, history: WorkflowHistory, written: list[Path]) -> None:
    kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
    path = OUT / f"{tag}-{kind}-{name}.json"
    if path.exists():
        raise SystemExit(f"{path} exists: choose another tag")
    path.write_text(history.to_json())
    written.append(path)


async def record(tag: str) -> list[Path]:
    written: list[Path] = []
    env = await start_dev_server()
    try:
        async with running_stack(env.client, "riposte-histories", akku_staff=400) as stack:
            for name, workflow_id in await stack_branches(stack):
                _write(tag, name, await env.client.get_workflow_handle(workflow_id).fetch_history(), written)
        for name, history in await record_timed(env, REAL_TIME):
            _write(tag, name, history, written)
        _write(tag, "continue-as-new", await governor_continue_as_new(env), written)
    finally:
        await env.shutdown()
    timed = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(), test_server_existing_path=str(find_binary("temporal-test-server"))
    )
    try:
        await register_search_attributes(timed.client)
        for name, history in await record_timed(timed):
            _write(tag, name, history, written)
    finally:
        await timed.shutdown()
    return written


def shape(history: WorkflowHistory) -> tuple[str, ...]:
    """The event sequence a replay checks: event types with their activity, workflow, marker,
    signal and update names (payloads, ids and times left out)."""
    steps = []
    for event in history.events:
        kind = event.WhichOneof("attributes") or ""
        attrs = getattr(event, kind) if kind else None
        fields = attrs.DESCRIPTOR.fields_by_name if attrs is not None else {}
        detail = ""
        for name in ("activity_type", "workflow_type"):
            if name in fields:
                detail = getattr(attrs, name).name
        for name in ("marker_name", "signal_name"):
            if name in fields:
                detail = getattr(attrs, name)
        if "accepted_request" in fields:
            detail = attrs.accepted_request.input.name  # type: ignore[union-attr]
        steps.append(f"{kind}:{detail}")
    return tuple(steps)


def prune() -> list[Path]:
    """Keep one file per distinct event sequence (the oldest name); delete exact duplicates."""
    seen: dict[tuple[str, ...], Path] = {}
    removed = []
    for path in sorted(p for p in OUT.glob("*.json") if p.name != "fingerprints.json"):
        key = shape(WorkflowHistory.from_json(path.stem, path.read_text()))
        if key in seen:
            path.unlink()
            removed.append(path)
        else:
            seen[key] = path
    return removed


async def record_detector(tag: str) -> list[Path]:
    """A DetectorWorkflow run that fires a rule, calls its activity twice and continues as new
    (`python -m tests.histories.record TAG --detector`)."""
    from datetime import UTC, datetime, timedelta

    import httpx
    from temporalio.client import WorkflowExecutionStatus

    from cli.driver import simulator_root
    from clients.akku.adapter import timestamp
    from detect.models import DetectorInput

    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(find_binary("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    try:
        client = env.client
        queue = "riposte-histories-detector"
        async with (
            running_stack(client, queue, riposte_detect="poll", riposte_detect_poll_seconds=0.5) as stack,
            httpx.AsyncClient(timeout=30) as http,
        ):
            now = datetime.now(UTC)
            pushes = [
                {
                    "event_type": "mfa.challenge_issued",
                    "actor_id": "u_10011",
                    "mfa_method": "push",
                    "timestamp": timestamp(now - timedelta(seconds=30 - i)),
                }
                for i in range(6)
            ]
            answer = await http.post(f"{simulator_root(stack.akku_url)}/_sim/events", json={"events": pushes})
            answer.raise_for_status()
            handle = await client.start_workflow(
                "DetectorWorkflow",
                DetectorInput(run_for_seconds=3, runs_per_history=2),
                id="riposte-detector-history",
                task_queue=queue,
            )
            first = handle.first_execution_run_id or handle.result_run_id
            for _ in range(200):
                described = await client.get_workflow_handle(handle.id, run_id=first).describe()
                if described.status is not WorkflowExecutionStatus.RUNNING:
                    break
                await asyncio.sleep(0.1)
            history = await client.get_workflow_handle(handle.id, run_id=first).fetch_history()
            path = OUT / f"{tag}-DetectorWorkflow-0.json"
            if path.exists():
                raise SystemExit(f"{path} exists: choose another tag")
            path.write_text(history.to_json())
            return [path]
    finally:
        await env.shutdown()


async def record_digest(tag: str) -> list[Path]:
    """A DigestWorkflow that opened on a wave of six requests and decided them with Approve all, and
    one of its investigations (`python -m tests.histories.record TAG --digest`)."""
    import tempfile

    import httpx

    from cli import driver
    from cli.rig import playbooks_with
    from tests.digest.support import approval_messages, click_digest, digest_ids, digests, until_stages

    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(find_binary("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    written: list[Path] = []
    try:
        client = env.client
        queue = "riposte-histories-digest"
        with tempfile.TemporaryDirectory() as tmp:
            folder = playbooks_with(
                Path(tmp),
                "credential-stuffing",
                "{min_score: 70, response: act, actions: [lock, revoke_sessions]}",
                "{min_score: 100, response: act, actions: [lock, revoke_sessions]}",
            )
            async with (
                running_stack(client, queue, riposte_playbooks_dir=folder) as stack,
                httpx.AsyncClient(timeout=30) as http,
            ):
                facts = await driver.load_scenario(http, stack, "credential_stuffing", count=6)
                (await driver.deliver(http, stack, "generic", facts)).raise_for_status()
                await until_stages(client, queue, {"waiting_for_approval": 6}, timeout=120)
                for _ in range(100):
                    found = digests(await approval_messages(http, stack))
                    if found and "6 people" in found[0]["text"]:
                        break
                    await asyncio.sleep(0.2)
                (await click_digest(http, stack, found[0], "approve", "U0ANALYST")).raise_for_status()
                approved = await until_stages(client, queue, {"approved": 6}, timeout=120)
                await asyncio.sleep(4)  # the digest reports the outcome
                (digest,) = await digest_ids(client, queue)
                ids = [digest, sorted(approved)[-1]]
                for workflow_id in ids:
                    history = await client.get_workflow_handle(workflow_id).fetch_history()
                    kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
                    path = OUT / f"{tag}-{kind}-{len(written)}.json"
                    if path.exists():
                        raise SystemExit(f"{path} exists: choose another tag")
                    path.write_text(history.to_json())
                    written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--prune"]:
        for path in prune():
            sys.stdout.write(f"removed {path} (same event sequence as another history)\n")
        raise SystemExit(0)
    if not args:
        raise SystemExit("usage: python -m tests.histories.record TAG [--detector | --digest] | --prune")
    recorder = record_detector if "--detector" in args else record_digest if "--digest" in args else record
    for path in asyncio.run(recorder(args[0])):
        sys.stdout.write(f"wrote {path}\n")
