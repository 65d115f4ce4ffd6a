"""A time-boxed lock's timer is durable: the worker stops in the middle of it, the lapse comes due
while no worker runs, the next worker (no cached state: it replays the run) unlocks exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client

from cli import driver
from cli.rig import running_stack
from riposte.models.runs import DecisionLabel
from tests.support.containment import akku_user, akku_writes, locking_playbooks, message_about
from worker import running_worker


async def test_a_lapse_survives_a_worker_restart(client: Client, task_queue: str, tmp_path: Path) -> None:
    folder = locking_playbooks(tmp_path, contain_for="6s")
    async with running_stack(client, task_queue, worker=False, riposte_playbooks_dir=folder) as stack:
        async with running_worker(stack.settings, stack.client):
            fired = await driver.fire_scenario(stack, "mfa_fatigue")
            ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
            assert status.stage == "acted" and status.holds[0].lapses_at is not None
            actor = workflow_id.removeprefix("investigation-")
        await asyncio.sleep(8)  # the lapse comes due while no worker runs
        assert (await akku_user(stack, actor))["status"] == "locked"
        async with running_worker(stack.settings, stack.client):
            status = await driver.wait_for_stage(stack.client, workflow_id, "undone", timeout=60)
            assert (await akku_user(stack, actor))["status"] == "active"
            last = status.decisions[-1]
            assert last.label is DecisionLabel.UNDONE and last.decided_by == "policy (contain_for lapsed)"
            await message_about(stack, actor, "Lapsed")
            await asyncio.sleep(1)  # nothing more arrives
        assert [a for a, _ in await akku_writes(stack, actor)].count("unlock") == 1
