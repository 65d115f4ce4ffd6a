"""A stopping worker never waits long on Akku, Slack or the governor: each local step (reads,
dispatch, the permit, the writes, the notice) has a budget past which the run falls back to
activities, which are cancelled after the grace period. The next worker carries the decision through, acting exactly once, and the
fallback replays."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Replayer, Worker

from activities.retry import LOCAL_BUDGET
from cli import driver
from cli.rig import running_stack
from cli.stack import Stack
from riposte.models.governor import governor_task_queue, governor_workflow_id
from riposte.temporal import data_converter
from worker import WORKFLOWS, activities, running_worker
from workflows.governor import ActionGovernor

GRACE = timedelta(seconds=2)


async def _applied(http: httpx.AsyncClient, akku_url: str, actor: str) -> list[str]:
    answer = await http.get(f"{driver.simulator_root(akku_url)}/_sim/writes", params={"actor_id": actor})
    return sorted(w["action"] for w in answer.json()["writes"] if w["status"] == "applied")


async def _wait_applied(http: httpx.AsyncClient, akku_url: str, actor: str, timeout: float, why: str) -> None:
    """Until both of the mfa-fatigue playbook's writes are applied."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(await _applied(http, akku_url, actor)) < 2:
        assert loop.time() < deadline, why
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _short_grace_worker(stack: Stack, task_queue: str, *, governor: bool) -> AsyncIterator[None]:
    """The stack's worker with a short grace period; without the governor's queue if asked, so
    a permit's update goes unanswered."""
    async with activities(stack.settings, stack.client, task_queue) as acts:
        main = Worker(
            stack.client,
            task_queue=task_queue,
            workflows=list(WORKFLOWS),
            activities=acts,
            graceful_shutdown_timeout=GRACE,
        )
        if not governor:
            async with main:
                yield
            return
        permits = Worker(stack.client, task_queue=governor_task_queue(task_queue), workflows=[ActionGovernor])
        async with permits, main:
            yield


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
        async with _short_grace_worker(stack, task_queue, governor=False):
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
            await _wait_applied(http, stack.akku_url or "", actor, 60, "the next worker did not act")
            await asyncio.sleep(1)  # nothing more arrives: each action exactly once
            assert await _applied(http, stack.akku_url or "", actor) == ["mfa_reset", "password_reset"]


async def test_a_worker_stops_promptly_while_akku_hangs_under_a_local_dispatch(client: Client, task_queue: str) -> None:
    loop = asyncio.get_running_loop()
    async with running_stack(client, task_queue, worker=False) as stack, httpx.AsyncClient() as http:
        sim = driver.simulator_root(stack.akku_url)
        async with _short_grace_worker(stack, task_queue, governor=False):
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
            await _wait_applied(http, stack.akku_url or "", actor, 90, "the next worker did not act")
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
        async with _short_grace_worker(stack, task_queue, governor=True):
            fired = await driver.fire_scenario(stack, "mfa_fatigue", http=http)
            (actor,) = fired.facts["actor_ids"]
            await _wait_applied(http, stack.akku_url or "", actor, 30, "no action taken")  # the notice is next
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


async def test_writes_past_their_local_budget_fall_back_to_activities_and_apply_once(
    client: Client, task_queue: str
) -> None:
    """lean-acting-v1: an automatic decision's writes are local activities within LOCAL_BUDGET;
    while Akku hangs on writes they run out of it, and the run goes on with ordinary activities
    under the same idempotency keys: each write lands once, and the run replays."""
    async with running_stack(client, task_queue) as stack, httpx.AsyncClient() as http:
        sim = driver.simulator_root(stack.akku_url)
        hang = {"rate": 1.0, "kinds": ["timeout"], "paths": "/v1/users/u_"}  # the writes; reads are batched
        answer = await http.post(f"{sim}/_sim/faults", json=hang)
        assert answer.status_code == 200, answer.text
        fired = await driver.fire_scenario(stack, "mfa_fatigue", http=http)
        (actor,) = fired.facts["actor_ids"]
        await asyncio.sleep(LOCAL_BUDGET.total_seconds() + 2)  # the local writes have spent their budget
        assert await _applied(http, stack.akku_url or "", actor) == []
        await http.delete(f"{sim}/_sim/faults")
        await _wait_applied(http, stack.akku_url or "", actor, 90, "the fallback activities did not act")
        await asyncio.sleep(1)  # nothing more arrives: each action exactly once
        assert await _applied(http, stack.akku_url or "", actor) == ["mfa_reset", "password_reset"]
        await _replays_with_fallback(stack.client, f"investigation-{actor}", "Apply response action in Akku")
