"""A storm's dispatch waits for room, counted from visibility, and never waits for ever.

The runs here are started on a task queue no worker polls, so they stay exactly as started:
their RiposteStage says whether they count as in flight (assessing or acting) or not.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from activities import dispatch
from activities.dispatch import Pacer
from cli import driver
from cli.rig import running_stack
from riposte import search_attributes as sa
from riposte.models.runs import AlertRunOutcome, InvestigationInput, RunOptions, Stage


async def start(client: Client, queue: str, name: str, stage: Stage) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        "InvestigationWorkflow",
        InvestigationInput(actor_id=name, options=RunOptions()),
        id=f"{queue}-{name}",
        task_queue=queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.STAGE, stage.value)]),
    )


async def until_counted(client: Client, queue: str, expected: int) -> None:
    deadline = time.monotonic() + 10
    query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"
    while (await client.count_workflows(query)).count != expected:
        assert time.monotonic() < deadline, "visibility never caught up"
        await asyncio.sleep(0.1)


async def alert_about(client: Client, task_queue: str, people: list[str]) -> AlertRunOutcome:
    """A credential-stuffing alert naming `people`, through the gateway: its run's outcome."""
    async with running_stack(client, task_queue, akku_staff=100) as stack, httpx.AsyncClient(timeout=60) as http:
        facts = {
            "scenario": "storm",
            "rule_name": "Akku - MFA failure spike across accounts",
            "detection": "credential_stuffing",
            "severity": "high",
            "actor_ids": people,
            "source_ips": [],
        }
        answer = await driver.deliver(http, stack, "generic", facts, alert_id=f"paced-{task_queue}")
        assert answer.status_code == 202, answer.text
        return await driver.alert_outcome(stack.client, answer.json()["workflow_id"], timeout=120)


async def test_a_batch_opens_at_once_while_there_is_room(client: Client, task_queue: str) -> None:
    queue = f"{task_queue}-paced"
    for k in range(4):
        await start(client, queue, f"busy{k}", Stage.ASSESSING if k % 2 else Stage.ACTING)
    for k in range(3):  # decided runs wait on their quiet period or a person: not in flight
        await start(client, queue, f"idle{k}", (Stage.ACTED, Stage.WAITING_FOR_APPROVAL, Stage.NOTIFIED)[k])
    await until_counted(client, queue, 7)

    assert await Pacer(client, queue).room_for(6, bound=10, most=10) < 0.5  # 4 in flight + 6 fit


async def test_a_batch_waits_until_runs_in_flight_have_moved_on(client: Client, task_queue: str) -> None:
    queue = f"{task_queue}-paced"
    busy = [await start(client, queue, f"busy{k}", Stage.ASSESSING) for k in range(6)]
    await until_counted(client, queue, 6)

    waiter = asyncio.create_task(Pacer(client, queue).room_for(5, bound=10, most=30))  # 6 + 5 > 10
    await asyncio.sleep(2)
    assert not waiter.done(), "the batch opened with the queue past its bound"
    await busy[0].terminate("moved on")
    waited = await asyncio.wait_for(waiter, 15)
    assert 2 <= waited < 30


async def test_a_batch_waits_at_most_its_limit(client: Client, task_queue: str) -> None:
    queue = f"{task_queue}-paced"
    for k in range(3):
        await start(client, queue, f"stuck{k}", Stage.ACTING)  # a worker that never comes
    await until_counted(client, queue, 3)

    waited = await Pacer(client, queue).room_for(100, bound=50, most=1.5)
    assert 1.5 <= waited < 5


async def test_a_paced_storm_still_opens_an_investigation_for_everyone(
    client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 people against a bound of 15 in flight: batches wait for room slice by slice, and
    every person still gets an investigation (those past the action limit wait on a person)."""
    monkeypatch.setattr(dispatch, "IN_FLIGHT_MAX", 15)
    monkeypatch.setattr(dispatch, "PACE_MAX", 20.0)
    asked: list[int] = []
    room_for = dispatch.Pacer.room_for

    async def spy(self: dispatch.Pacer, people: int, **kwargs: Any) -> float:
        asked.append(people)
        return await room_for(self, people, **kwargs)

    monkeypatch.setattr(dispatch.Pacer, "room_for", spy)
    people = [f"u_{10001 + n}" for n in range(60)]
    outcome = await alert_about(client, task_queue, people)

    assert sorted(outcome.investigations) == sorted(f"investigation-{p}" for p in people)
    assert asked == [dispatch.PACE_SLICE] * 6, "each batch asked for room a slice at a time"


async def test_a_small_alert_is_never_paced(client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "IN_FLIGHT_MAX", 0)  # no room at all: a paced batch would wait
    asked: list[int] = []

    async def spy(self: dispatch.Pacer, people: int, **kwargs: Any) -> float:
        asked.append(people)
        return 0.0

    monkeypatch.setattr(dispatch.Pacer, "room_for", spy)
    outcome = await alert_about(client, task_queue, [f"u_{10001 + n}" for n in range(3)])

    assert len(outcome.investigations) == 3 and asked == []


async def test_batches_of_one_process_share_a_count_and_never_take_the_same_room(
    client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = f"{task_queue}-paced"
    busy = [await start(client, queue, f"busy{k}", Stage.ASSESSING) for k in range(6)]
    await until_counted(client, queue, 6)
    pacer = Pacer(client, queue)

    first = await pacer.room_for(4, bound=10, most=10)  # 6 + 4 fit, and are reserved
    second = asyncio.create_task(pacer.room_for(4, bound=10, most=30))  # 6 + 4 + 4 do not
    busy += [await start(client, queue, f"opened{k}", Stage.ASSESSING) for k in range(4)]  # the first batch's
    crowd = [asyncio.create_task(pacer.room_for(1, bound=0, most=3)) for _ in range(12)]
    await asyncio.sleep(2.5)
    assert first == 0.0 and not second.done(), "a second batch took room the first had taken"
    await asyncio.gather(*crowd)
    assert pacer.counts <= 6, f"{pacer.counts} counts in 3 s for 14 waiting batches"
    for handle in busy[:4]:  # 6 + 4 in flight, 4 of them move on: room for the second
        await handle.terminate("moved on")
    assert await asyncio.wait_for(second, 15) > 2


async def test_a_count_that_fails_lets_the_batch_go(
    client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unanswered(*args: Any, **kwargs: Any) -> Any:
        raise RPCError("visibility unavailable", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(client, "count_workflows", unanswered)
    assert await Pacer(client, f"{task_queue}-paced").room_for(100, bound=0, most=30) == 0.0
