"""The governor holds its limit under concurrency and answers retries the same."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.governor import GovernorActivities
from riposte.models.governor import GovernorState, PermitRequest, governor_workflow_id
from workflows.governor import ActionGovernor


async def test_racing_requests_never_exceed_the_limit(client: Client, task_queue: str) -> None:
    acts = GovernorActivities(client, task_queue)
    env = ActivityEnvironment()
    window = 3600.0
    async with Worker(client, task_queue=task_queue, workflows=[ActionGovernor]):
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
    async with Worker(client, task_queue=task_queue, workflows=[ActionGovernor]):
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
