"""The harness itself: both real servers answer, a real worker runs a workflow."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from riposte.models.common import Model


class Ping(Model):
    text: str


@workflow.defn
class PingWorkflow:
    @workflow.run
    async def run(self, ping: Ping) -> Ping:
        return Ping(text=f"pong: {ping.text}")


@workflow.defn
class SleepyWorkflow:
    @workflow.run
    async def run(self, ping: Ping) -> Ping:
        try:
            await workflow.wait_condition(lambda: False, timeout=timedelta(hours=6))
        except TimeoutError:
            return Ping(text="woke after 6 h")
        raise AssertionError("unreachable")


async def test_dev_server_runs_a_workflow_through_a_real_worker(env: WorkflowEnvironment, task_queue: str) -> None:
    async with Worker(env.client, task_queue=task_queue, workflows=[PingWorkflow]):
        result = await env.client.execute_workflow(
            PingWorkflow.run, Ping(text="hi"), id=f"ping-{task_queue}", task_queue=task_queue
        )
    assert result == Ping(text="pong: hi")
    assert not env.supports_time_skipping


@pytest.mark.time_skipping
async def test_time_skipping_server_skips_six_hours(env: WorkflowEnvironment, task_queue: str) -> None:
    assert env.supports_time_skipping
    async with Worker(env.client, task_queue=task_queue, workflows=[SleepyWorkflow]):
        result = await asyncio.wait_for(
            env.client.execute_workflow(
                SleepyWorkflow.run, Ping(text=""), id=f"sleep-{task_queue}", task_queue=task_queue
            ),
            timeout=30,
        )
    assert result.text == "woke after 6 h"
