"""A playbook's `contain_for` on Temporal's time-skipping server, with the whole stack for real: the
lock lapses by itself, exactly once, the run staying open past its quiet period until then, also
when the worker is replaced in the middle of the timer; Keep locked cancels the lapse. (The same
restart with the lapse coming due while no worker runs: test_contain_for_restart.py, on the dev
server.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cli import driver
from cli.rig import running_stack, start_time_skipping_server
from cli.stack import Stack
from riposte.models.governor import governor_task_queue
from riposte.models.runs import DecisionLabel, InvestigationOutcome, InvestigationStatus
from tests.support.containment import (
    akku_user,
    akku_writes,
    click,
    has_button,
    locking_playbooks,
    message_about,
    reply_saying,
)
from worker import WORKFLOWS, activities, running_worker
from workflows.governor import ActionGovernor

pytestmark = pytest.mark.time_skipping


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of each test's own (as in test_timeouts.py)."""
    environment = await start_time_skipping_server()
    try:
        yield environment
    finally:
        await environment.shutdown()


async def end(env: WorkflowEnvironment, stack: Stack, *workflow_ids: str) -> None:
    governor = f"riposte-action-governor/{stack.settings.temporal_task_queue}"
    for workflow_id in (*workflow_ids, governor):
        with contextlib.suppress(RPCError):
            await env.client.get_workflow_handle(workflow_id).terminate("test finished")


async def acted(stack: Stack) -> tuple[str, str, InvestigationStatus]:
    fired = await driver.fire_scenario(stack, "mfa_fatigue")
    ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
    assert status.stage == "acted", status.stage
    return workflow_id, workflow_id.removeprefix("investigation-"), status


async def running(env: WorkflowEnvironment, workflow_id: str) -> bool:
    described = await env.client.get_workflow_handle(workflow_id).describe()
    return described.status is WorkflowExecutionStatus.RUNNING


async def until_stage(stack: Stack, workflow_id: str, stage: str, env: WorkflowEnvironment) -> InvestigationStatus:
    for _ in range(200):
        status = await driver.investigation_status(stack.client, workflow_id)
        if status is not None and status.stage == stage:
            return status
        await env.sleep(timedelta(seconds=1))
    raise AssertionError(f"{workflow_id} never reached {stage}")


async def test_a_time_boxed_lock_lapses_by_itself_and_the_run_waits_for_it(
    env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    folder = locking_playbooks(tmp_path, contain_for="4h")
    async with running_stack(env.client, task_queue, riposte_playbooks_dir=folder) as stack:
        workflow_id, actor, status = await acted(stack)
        (hold,) = status.holds
        assert hold.lapses_at is not None and hold.reversible
        assert hold.lapses_at - status.decisions[-1].at == timedelta(hours=4)
        notice = await message_about(stack, actor, "Time-boxed")
        assert has_button(notice, "keep") and has_button(notice, "undo")
        assert f"<!date^{int(hold.lapses_at.timestamp())}^" in str(notice["blocks"])  # when it lapses
        await env.sleep(timedelta(hours=2))  # past the 1 h quiet period: the run stays open for the lapse
        assert await running(env, workflow_id), "closed on its quiet period before the lock lapsed"
        assert (await akku_user(stack, actor))["status"] == "locked"
        await env.sleep(timedelta(hours=2, minutes=30))  # past the 4 h
        for _ in range(100):
            if (await akku_user(stack, actor))["status"] == "active":
                break
            await env.sleep(timedelta(seconds=1))
        assert (await akku_user(stack, actor))["status"] == "active"
        lapsed = await message_about(stack, actor, "Lapsed")
        assert not has_button(lapsed, "undo") and not has_button(lapsed, "keep")
        outcome = await stack.client.get_workflow_handle(workflow_id, result_type=InvestigationOutcome).result()
        assert outcome.decision is DecisionLabel.UNDONE and outcome.decided_by == "policy (contain_for lapsed)"
        assert outcome.closed_at >= hold.lapses_at
        assert [a for a, _ in await akku_writes(stack, actor)].count("unlock") == 1
        await end(env, stack, workflow_id)


@contextlib.asynccontextmanager
async def uncached_worker(stack: Stack) -> AsyncIterator[None]:
    """The worker's workflows and activities (worker.py) without a sticky cache: the time-skipping
    test server would keep a stopped worker's sticky tasks from the next worker (and its clock with
    them); the dev server hands them back."""
    queue = stack.settings.temporal_task_queue
    async with activities(stack.settings, stack.client, queue) as acts:
        main = Worker(
            stack.client, task_queue=queue, workflows=list(WORKFLOWS), activities=acts, max_cached_workflows=0
        )
        governor = Worker(
            stack.client, task_queue=governor_task_queue(queue), workflows=[ActionGovernor], max_cached_workflows=0
        )
        async with governor, main:
            yield


async def test_a_lapse_survives_a_worker_restart_in_the_middle_of_its_timer(
    env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    folder = locking_playbooks(tmp_path, contain_for="4h")
    async with running_stack(env.client, task_queue, worker=False, riposte_playbooks_dir=folder) as stack:
        async with uncached_worker(stack):
            workflow_id, actor, _ = await acted(stack)
            await env.sleep(timedelta(hours=2))
            assert await running(env, workflow_id) and (await akku_user(stack, actor))["status"] == "locked"
        async with running_worker(stack.settings, stack.client):  # a new worker: it replays the run
            await env.sleep(timedelta(hours=2, minutes=30))
            for _ in range(100):
                if (await akku_user(stack, actor))["status"] == "active":
                    break
                await env.sleep(timedelta(seconds=1))
            assert (await akku_user(stack, actor))["status"] == "active"
            outcome = await stack.client.get_workflow_handle(workflow_id, result_type=InvestigationOutcome).result()
            assert outcome.decision is DecisionLabel.UNDONE and outcome.decided_by == "policy (contain_for lapsed)"
        assert [a for a, _ in await akku_writes(stack, actor)].count("unlock") == 1
        await end(env, stack, workflow_id)


async def test_keep_locked_cancels_the_lapse(env: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> None:
    folder = locking_playbooks(tmp_path, contain_for="4h")
    async with running_stack(env.client, task_queue, riposte_playbooks_dir=folder) as stack:
        workflow_id, actor, _ = await acted(stack)
        await message_about(stack, actor, "Time-boxed")
        assert (await click(stack, workflow_id, "keep", "U0ANALYST")).status_code == 200
        await reply_saying(stack, "kept locked")
        status = await until_stage(stack, workflow_id, "lock_kept", env)
        assert status.decisions[-1].label is DecisionLabel.LOCK_KEPT and status.decisions[-1].decided_by == "analyst"
        kept = await message_about(stack, actor, "Kept locked")
        assert has_button(kept, "undo") and not has_button(kept, "keep")
        await env.sleep(timedelta(hours=6))
        assert (await akku_user(stack, actor))["status"] == "locked"
        assert "unlock" not in [a for a, _ in await akku_writes(stack, actor)]
        assert not await running(env, workflow_id)  # closed on its quiet period: nothing left to lapse
        await end(env, stack, workflow_id)
