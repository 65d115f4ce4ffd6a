"""The governor holds its limit under concurrency and answers retries the same."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer, Worker

from activities.governor import GovernorActivities
from riposte.models.governor import (
    GovernorInput,
    GovernorState,
    PermitRequest,
    governor_task_queue,
    governor_workflow_id,
)
from riposte.temporal import data_converter
from workflows.governor import MAX_UPDATES_PER_RUN, ActionGovernor


async def test_racing_requests_never_exceed_the_limit(client: Client, task_queue: str) -> None:
    acts = GovernorActivities(client, task_queue)
    env = ActivityEnvironment()
    window = 3600.0
    async with Worker(client, task_queue=governor_task_queue(task_queue), workflows=[ActionGovernor]):
        requests = [PermitRequest(key=f"{task_queue}-{i}", limit=7, window_seconds=window) for i in range(40)]
        decisions = await asyncio.gather(*(env.run(acts.acquire_permit, r) for r in requests))
        assert sum(d.granted for d in decisions) == 7
        # a retried request gets its first answer, granted or not
        again = await asyncio.gather(*(env.run(acts.acquire_permit, r) for r in requests[:10]))
        assert [d.granted for d in again] == [d.granted for d in decisions[:10]]
        state = await client.get_workflow_handle(governor_workflow_id(task_queue)).query(
            "state", result_type=GovernorState
        )
        assert sum(g.count for g in state.grants) == 7


async def test_a_storm_of_requests_goes_out_in_few_updates_and_holds_the_limit(client: Client, task_queue: str) -> None:
    """Two worker processes' batchers (two GovernorActivities) race 600 requests for 25 permits."""
    workers = [GovernorActivities(client, task_queue), GovernorActivities(client, task_queue)]
    env = ActivityEnvironment()
    async with Worker(client, task_queue=governor_task_queue(task_queue), workflows=[ActionGovernor]):
        requests = [PermitRequest(key=f"storm-{i}", limit=25, window_seconds=3600.0) for i in range(600)]
        decisions = await asyncio.gather(*(env.run(workers[i % 2].acquire_permit, r) for i, r in enumerate(requests)))
        history = await client.get_workflow_handle(governor_workflow_id(task_queue)).fetch_history()
    for acts in workers:
        await acts.aclose()
    assert [d.key for d in decisions] == [r.key for r in requests]  # each activity got its own answer
    assert sum(d.granted for d in decisions) == 25
    assert max(d.used_in_window for d in decisions) == 25
    updates = [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert 2 <= len(updates) <= 60  # coalesced: not one update per request


async def test_a_governor_started_on_the_main_queue_moves_to_its_own(client: Client, task_queue: str) -> None:
    """Governors started before the governor had a queue of its own move there at continue-as-new."""
    async with (
        Worker(client, task_queue=task_queue, workflows=[ActionGovernor]),
        Worker(client, task_queue=governor_task_queue(task_queue), workflows=[ActionGovernor]),
    ):
        handle = await client.start_workflow(
            ActionGovernor.run, GovernorInput(), id=governor_workflow_id(task_queue), task_queue=task_queue
        )
        first_run = handle.result_run_id
        gate = asyncio.Semaphore(8)  # under Temporal's 10 in-flight updates per workflow

        async def one(i: int) -> None:
            async with gate:
                await handle.execute_update(
                    ActionGovernor.acquire, PermitRequest(key=f"old-{i}", limit=10_000, window_seconds=3600.0)
                )

        await asyncio.gather(*(one(i) for i in range(MAX_UPDATES_PER_RUN)))
        latest = client.get_workflow_handle(governor_workflow_id(task_queue))
        for _ in range(100):
            described = await latest.describe()
            if described.run_id != first_run:
                break
            await asyncio.sleep(0.1)
        state = await latest.query("state", result_type=GovernorState)
        moved = await client.get_workflow_handle(governor_workflow_id(task_queue), run_id=first_run).fetch_history()
    assert described.run_id != first_run and described.task_queue == governor_task_queue(task_queue)
    assert len(state.grants) == MAX_UPDATES_PER_RUN  # the grants moved with it
    # the patched continue-as-new replays deterministically
    await Replayer(workflows=[ActionGovernor], data_converter=data_converter()).replay_workflow(moved)
    assert any(e.HasField("marker_recorded_event_attributes") for e in moved.events)
