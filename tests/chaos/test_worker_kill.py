"""The worker killed with SIGKILL at random points: every run reaches its end, every write once.

The gateway and the simulators run in this process; the worker is a real `riposte worker`
process that the test kills (no graceful shutdown, no goodbye) and restarts, again and again,
while alerts are enriched, investigations act and approvals are decided. The Akku simulator's
write log is the judge: each (account, action) applied exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from cli import driver
from cli.rig import process_env, running_stack
from cli.stack import Stack

RIPOSTE = str(Path(sys.executable).with_name("riposte"))
SEED = int(os.environ.get("RIPOSTE_CHAOS_SEED", "20261124"))


class WorkerProcess:
    def __init__(self, stack: Stack) -> None:
        self.env = process_env(stack.settings)
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [RIPOSTE, "worker"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def fire(stack: Stack, http: httpx.AsyncClient, scenario: str, **body: object) -> driver.Fired:
    facts = await driver.load_scenario(http, stack, scenario, **body)
    answer = await driver.deliver(http, stack, "generic", facts)
    assert answer.status_code == 202, answer.text
    return driver.Fired(
        scenario, "generic", facts, answer.json()["workflow_id"], answer.json()["status"], facts["window_end"]
    )


async def campaign(client: Client, task_queue: str, *, fatigue: int, stuffing: list[int], kills: int) -> None:
    rng = random.Random(SEED)
    async with running_stack(client, task_queue, worker=False) as stack, httpx.AsyncClient(timeout=30) as http:
        worker = WorkerProcess(stack)
        worker.start()
        try:
            fired = [await fire(stack, http, "mfa_fatigue") for _ in range(fatigue)]
            fired += [await fire(stack, http, "credential_stuffing", count=n) for n in stuffing]
            fired.append(await fire(stack, http, "admin_elevation"))

            async def chaos() -> None:
                for _ in range(kills):  # kill during enrichment, between actions, while waiting for approval
                    await asyncio.sleep(rng.uniform(0.3, 2.0))
                    worker.kill()
                    await asyncio.sleep(rng.uniform(0.1, 1.0))
                    worker.start()

            killing = asyncio.create_task(chaos())
            outcomes = {}
            for f in fired:
                outcomes[f.alert_workflow_id] = await driver.settle(stack, f, approve=True, timeout=600, http=http)
            await killing
            for f in fired:  # approvals clicked during the kills: let their actions land
                for workflow_id, status in outcomes[f.alert_workflow_id].items():
                    if status.pending is not None or status.stage == "acting":
                        await driver.wait_for_stage(stack.client, workflow_id, "approved", timeout=120)
        finally:
            worker.stop()

        writes = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()["writes"]
    applied = [w for w in writes if w["status"] == "applied"]
    per_action = Counter((w["actor_id"], w["action"]) for w in applied)
    per_key = Counter(w["idempotency_key"] for w in applied)
    runs = len(fired) + len({w for o in outcomes.values() for w in o})  # alert runs + investigations
    print(
        f"seed {SEED}: {worker.kills} SIGKILLs, {runs} runs ({len(fired)} alerts), {len(applied)} writes applied, "
        f"{sum(1 for w in writes if w['status'] == 'replayed')} retried writes answered from the idempotency cache"
    )
    assert worker.kills == kills
    assert max(per_action.values()) == 1, [k for k, n in per_action.items() if n > 1]
    assert max(per_key.values()) == 1
    expected = {
        (a, act) for f in fired[:fatigue] for a in f.facts["actor_ids"] for act in ("mfa_reset", "password_reset")
    }
    for f in fired[fatigue:-1]:  # stuffing: every account the alert (and its IPs) reached
        investigated = {w.removeprefix("investigation-") for w in outcomes[f.alert_workflow_id]}
        expected |= {(a, act) for a in investigated for act in ("lock", "sessions_revoke")}
    expected |= {(fired[-1].facts["target_id"], "role_revoke")}
    assert set(per_action) == expected  # nothing lost, nothing extra


async def test_sigkilled_workers_lose_nothing_and_write_everything_once(client: Client, task_queue: str) -> None:
    await campaign(client, task_queue, fatigue=8, stuffing=[12], kills=3)


@pytest.mark.slow
@pytest.mark.timeout(600)  # approvals now go through the wave's digest: longer than the default 120 s
async def test_200_runs_through_10_sigkills(client: Client, task_queue: str) -> None:
    await campaign(client, task_queue, fatigue=60, stuffing=[50, 50], kills=10)
