"""A worker that stops while a permit waits on an unanswered governor stops promptly (the permit
is an activity, cancelled after the grace period, never a local activity that holds the worker's
shutdown), and the next worker carries the decision through, acting exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Replayer, Worker

from cli import driver
from riposte.models.governor import governor_task_queue, governor_workflow_id
from riposte.temporal import data_converter
from tests.engine.conftest import running_stack
from worker import WORKFLOWS, activities, running_worker
from workflows.governor import ActionGovernor
from workflows.investigation import LOCAL_BUDGET

GRACE = timedelta(seconds=2)


async def _applied(http: httpx.AsyncClient, akku_url: str, actor: str) -> list[str]:
    answer = await http.get(f"{driver.simulator_root(akku_url)}/_sim/writes", params={"actor_id": actor})
    return sorted(w["action"] for w in answer.json()["writes"] if w["status"] == "applied")


async def _replays_with_fallback(client: Client, workflow_id: str, activity_type: str) -> None:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert activity_type in scheduled, scheduled
    replayed = await Replayer(workflows=list(WORKFLOWS), data_converter=data_converter()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None, replayed.replay_failure


async def test_a_worker_stops_promptly_while_a_permit_waits_and_the_next_one_acts_once(
    client: Client, task_queue: str
) -> None:
    loop = asyncio.get_running_loop()
    async with running_stack(client, task_queue, worker=False) as stack, httpx.AsyncClient() as http:
        # a worker without the governor's queue: the permit's update cannot be answered
        async with activities(stack.settings, stack.client, task_queue) as acts:
            alone = Worker(
                stack.client,
                task_queue=task_queue,
                workflows=list(WORKFLOWS),
                activities=acts,
                graceful_shutdown_timeout=GRACE,
            )
            async with alone:
                fired = await driver.fire_scenario(stack, "mfa_fatigue", http=http)
                governor = stack.client.get_workflow_handle(governor_workflow_id(task_queue))
                deadline = loop.time() + 20
                while True:  # the permit's update-with-start has started the governor: the permit waits
                    try:
                        await governor.describe()
                        break
                    except RPCError:
                        assert loop.time() < deadline, "no permit was asked for"
                        await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                stopping = loop.time()
            stopped_in = loop.time() - stopping
        (actor,) = fired.facts["actor_ids"]
        assert stopped_in < GRACE.total_seconds() + 8, f"shutdown waited {stopped_in:.1f} s on the permit"
        assert await _applied(http, stack.akku_url or "", actor) == []

        async with running_worker(stack.settings, stack.client):
            deadline = loop.time() + 60
            while len(await _applied(http, stack.akku_url or "", actor)) < 2:
                assert loop.time() < deadline, "the next worker did not act"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)  # nothing more arrives: each action exactly once
            assert await _applied(http, stack.akku_url or "", actor) == ["mfa_reset", "password_reset"]


async def test_a_worker_stops_promptly_while_akku_hangs_under_a_local_dispatch(client: Client, task_queue: str) -> None:
    loop = asyncio.get_running_loop()
    async with running_stack(client, task_queue, worker=False) as stack, httpx.AsyncClient() as http:
        sim = driver.simulator_root(stack.akku_url)
        async with activities(stack.settings, stack.client, task_queue) as acts:
            alone = Worker(
                stack.client,
                task_queue=task_queue,
                workflows=list(WORKFLOWS),
                activities=acts,
                graceful_shutdown_timeout=GRACE,
            )
            async with alone:
                answer = await http.post(f"{sim}/_sim/faults", json={"rate": 1.0, "kinds": ["timeout"]})
                assert answer.status_code == 200, answer.text
                fired = await driver.fire_scenario(stack, "mfa_fatigue", http=http)
                await asyncio.sleep(3)  # the alert run's local reads are waiting on Akku
                stopping = loop.time()
            stopped_in = loop.time() - stopping
        assert stopped_in < GRACE.total_seconds() + 8, f"shutdown waited {stopped_in:.1f} s on Akku"
        await http.delete(f"{sim}/_sim/faults")
        async with running_worker(stack.settings, stack.client):
            (actor,) = fired.facts["actor_ids"]
            deadline = loop.time() + 90
            while len(await _applied(http, stack.akku_url or "", actor)) < 2:
                assert loop.time() < deadline, "the next worker did not act"
                await asyncio.sleep(0.2)
        # the local read ran out of its budget and the run went on with an activity; it replays
        await _replays_with_fallback(stack.client, fired.alert_workflow_id, "Summarise source-IP activity in Akku")


async def test_a_worker_stops_promptly_while_slack_hangs_under_a_notice(client: Client, task_queue: str) -> None:
    """The notice after an automatic action is a local activity with a budget: a stopping worker
    waits at most that long on a hung Slack, and the notice still goes out (as an activity)."""
    loop = asyncio.get_running_loop()
    async with running_stack(client, task_queue, worker=False) as stack, httpx.AsyncClient() as http:
        assert stack.slack_url
        slack = stack.slack_url.rstrip("/")
        await http.post(f"{slack}/_sim/faults", json={"rate": 1.0, "kinds": ["timeout"], "hang_seconds": 60})
        async with activities(stack.settings, stack.client, task_queue) as acts:
            alone = Worker(
                stack.client,
                task_queue=task_queue,
                workflows=list(WORKFLOWS),
                activities=acts,
                graceful_shutdown_timeout=GRACE,
            )
            governor = Worker(stack.client, task_queue=governor_task_queue(task_queue), workflows=[ActionGovernor])
            async with governor, alone:
                fired = await driver.fire_scenario(stack, "mfa_fatigue", http=http)
                (actor,) = fired.facts["actor_ids"]
                deadline = loop.time() + 30
                while len(await _applied(http, stack.akku_url or "", actor)) < 2:  # acted: the notice is next
                    assert loop.time() < deadline, "no action taken"
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                stopping = loop.time()
            stopped_in = loop.time() - stopping
        assert stopped_in < GRACE.total_seconds() + LOCAL_BUDGET.total_seconds() + 3, (
            f"shutdown waited {stopped_in:.1f} s on Slack"
        )
        await http.delete(f"{slack}/_sim/faults")
        async with running_worker(stack.settings, stack.client):
            deadline = loop.time() + 60
            while not any(
                "Acted automatically" in m.get("text", "") and actor in m.get("text", "")
                for m in (await http.get(f"{slack}/_sim/messages")).json()["messages"]
            ):
                assert loop.time() < deadline, "the notice never went out"
                await asyncio.sleep(0.2)
        await _replays_with_fallback(stack.client, f"investigation-{actor}", "Notify the team in Slack")
