"""Guards that hold when the inputs are hostile: the action limit through timeouts and a worker
restart, the emergency stop, and dry-run enforced where the write happens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from cli import driver
from cli.emergency import current_pause, pause_actions, resume_actions
from cli.rig import playbooks_with, running_stack
from cli.stack import Stack
from riposte.models.runs import InvestigationStatus, Stage
from worker import running_worker

LIMIT = 25


def by_actor(statuses: dict[str, InvestigationStatus]) -> dict[str, InvestigationStatus]:
    return {s.actor_id: s for s in statuses.values()}


async def writes(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        found: list[dict[str, Any]] = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()[
            "writes"
        ]
    return found


async def stages(client: Client, task_queue: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    query = f"WorkflowType = 'InvestigationWorkflow' AND TaskQueue = '{task_queue}'"
    async for execution in client.list_workflows(query):
        stage = (execution.search_attributes.get("RiposteStage") or ["?"])[0]
        counts[str(stage)] = counts.get(str(stage), 0) + 1
    return counts


async def test_the_action_limit_holds_through_timeouts_and_a_worker_restart(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    """A hostile SIEM names 200 real accounts; the limit is 25 and nobody answers: the timeout
    fallback (force a reset, end sessions) must not reach the other 175, now or ever."""
    folder = playbooks_with(tmp_path, "credential-stuffing", "timeout: 15m", "timeout: 2s")
    async with (
        running_stack(client, task_queue, worker=False, akku_staff=400, riposte_playbooks_dir=folder) as stack,
        httpx.AsyncClient() as http,
    ):
        async with running_worker(stack.settings, client):
            facts = await driver.load_scenario(http, stack, "credential_stuffing", count=200)
            answer = await driver.deliver(http, stack, "generic", facts)
            assert answer.status_code == 202
            for _ in range(300):  # stop the worker in the middle of the storm
                if len(await writes(stack)) >= 10:
                    break
                await asyncio.sleep(0.1)
        async with running_worker(stack.settings, client):  # a new worker takes over
            for _ in range(900):
                counts = await stages(client, task_queue)
                if sum(counts.values()) >= 200 and set(counts) <= {"acted", "waiting_for_approval"}:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(6)  # every deadline has passed, some more than once
            counts = await stages(client, task_queue)
        written = {w["actor_id"] for w in await writes(stack)}
    assert counts == {"acted": LIMIT, "waiting_for_approval": 200 - LIMIT}, counts
    assert len(written) == LIMIT, f"{len(written)} accounts written to without a click"


async def test_pause_actions_sends_every_decision_to_a_person_until_resumed(stack: Stack) -> None:
    settings = stack.settings
    await pause_actions(stack.client, settings, by="alice", reason="SIEM compromised?")
    paused = await current_pause(stack.client, settings)
    assert paused is not None and paused.by == "alice" and paused.at is not None
    fired = await driver.fire_scenario(stack, "mfa_fatigue")
    status = by_actor(await driver.settle(stack, fired))[fired.facts["actor_ids"][0]]
    assert status.stage == Stage.WAITING_FOR_APPROVAL and status.pending is not None
    assert any("paused by alice (SIEM compromised?)" in n for n in status.pending.assessment.guard_notes)
    assert await writes(stack) == []
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        for _ in range(100):  # the request is posted just after the run starts waiting
            posted = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")).json()["messages"]
            if posted:
                break
            await asyncio.sleep(0.1)
    assert any("Automatic actions are paused by alice" in str(m["blocks"]) for m in posted), (
        posted
    )  # on the request too

    await resume_actions(stack.client, settings, by="alice")
    assert await current_pause(stack.client, settings) is None
    again = await driver.fire_scenario(stack, "mfa_fatigue")
    acted = by_actor(await driver.settle(stack, again))[again.facts["actor_ids"][0]]
    assert acted.stage == Stage.ACTED
    assert {w["actor_id"] for w in await writes(stack)} == set(again.facts["actor_ids"])


async def test_dry_run_on_the_worker_stops_writes_of_runs_already_accepted(client: Client, task_queue: str) -> None:
    """The gateway accepted the alert without dry-run; the worker has RIPOSTE_DRY_RUN=1."""
    async with running_stack(client, task_queue, worker=False) as stack:
        careful = stack.settings.model_copy(update={"riposte_dry_run": True})
        async with running_worker(careful, client):
            fired = await driver.fire_scenario(stack, "mfa_fatigue")
            ((_, status),) = (await driver.settle(stack, fired)).items()
        assert status.decisions[-1].results and {r.status for r in status.decisions[-1].results} == {"dry_run"}
        assert await writes(stack) == []


async def test_riposte_protected_actors_is_never_acted_on_automatically(client: Client, task_queue: str) -> None:
    """The deployment's own list, case-insensitive, on top of the playbook's (which does not name him)."""
    async with running_stack(client, task_queue, riposte_protected_actors="U_10042") as stack:
        async with httpx.AsyncClient() as http:
            facts = await driver.load_scenario(http, stack, "mfa_fatigue", actor_ids=["u_10042"])
            answer = await driver.deliver(http, stack, "generic", facts)
        fired = driver.Fired(
            "mfa_fatigue", "generic", facts, answer.json()["workflow_id"], "started", facts["window_end"]
        )
        status = by_actor(await driver.settle(stack, fired))["u_10042"]
        assert status.stage == Stage.WAITING_FOR_APPROVAL and status.pending is not None
        assert any("protected account" in n for n in status.pending.assessment.guard_notes)
        assert await writes(stack) == []
