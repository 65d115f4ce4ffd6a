"""Scale-out, proved: two worker processes and two gateways on one Temporal.

The gateways sit behind a round-robin (each alert goes to one, and its redelivery to the
other); one worker is SIGKILLed mid-storm. Across processes the action limit holds, a
redelivered alert starts nothing, every (account, action) is written once, and approvals
clicked in Slack are acted on exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.client import Client

from cli import driver
from cli.rig import WEBHOOK_TOKEN, free_port, process_env, running_stack
from cli.stack import Stack
from gateway.sources import samples
from tests.chaos.test_worker_kill import RIPOSTE, WorkerProcess

LIMIT = 25


class GatewayProcess:
    """A second `riposte gateway` on its own port, sharing nothing with the first but Temporal."""

    def __init__(self, stack: Stack) -> None:
        s = stack.settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = process_env(s, RIPOSTE_HTTP_PORT=str(self.port), RIPOSTE_WEBHOOK_TOKEN=WEBHOOK_TOKEN)
        self.proc = subprocess.Popen(
            [RIPOSTE, "gateway"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def ready(self, http: httpx.AsyncClient) -> None:
        for _ in range(300):
            try:
                if (await http.get(f"{self.url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError("the second gateway never became ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.mark.slow
@pytest.mark.timeout(600)  # about a minute alone on 2 cores; longer after the other campaigns
async def test_two_workers_two_gateways_one_killed_the_guards_hold(client: Client, task_queue: str) -> None:
    async with (
        running_stack(client, task_queue, worker=False, akku_staff=400) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        second = GatewayProcess(stack)
        workers = [WorkerProcess(stack), WorkerProcess(stack)]
        for worker in workers:
            worker.start()
        try:
            await second.ready(http)
            gateways = itertools.cycle([stack.gateway_url, second.url])
            fired: list[driver.Fired] = []
            for _ in range(3):  # a storm: 3 alerts x 20 people, limit 25
                facts = await driver.load_scenario(http, stack, "credential_stuffing", count=20)
                body = samples.generic_payload(facts)
                first, again = next(gateways), next(gateways)
                headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
                one = await http.post(f"{first}/webhooks/generic", json=body, headers=headers)
                two = await http.post(f"{again}/webhooks/generic", json=body, headers=headers)  # redelivery
                assert one.status_code == two.status_code == 202, (one.text, two.text)
                assert one.json()["workflow_id"] == two.json()["workflow_id"] and two.json()["status"] == "duplicate"
                fired.append(
                    driver.Fired(
                        "credential_stuffing", "generic", facts, one.json()["workflow_id"], "started", datetime.now(UTC)
                    )
                )
            await asyncio.sleep(1.0)
            workers[0].kill()  # mid-storm: the other worker carries on alone
            statuses: dict[str, object] = {}
            for f in fired:
                statuses.update(await driver.settle(stack, f, approve=None, timeout=300, http=http))
            waiting = [(w, s) for w, s in statuses.items() if getattr(s, "pending", None) is not None]
            approver = stack.settings.slack_approver_ids[0]
            approved = []
            for workflow_id, status in waiting:  # a person approves those with a message of their own
                request = status.pending  # type: ignore[attr-defined]
                option = next(o for o in request.assessment.options if o.actions)
                for _ in range(25):  # the rest of the wave waits in one digest: no message to click
                    answer = await driver.click(http, stack, workflow_id, request.request_id, option.id, approver)
                    if answer.status_code == 200:
                        approved.append(workflow_id)
                        break
                    await asyncio.sleep(0.2)
                if len(approved) == 5:
                    break
            for workflow_id in approved:
                await driver.wait_for_stage(stack.client, workflow_id, "approved", timeout=120)
        finally:
            for worker in workers:
                worker.stop()
            second.stop()
        writes = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()["writes"]
    applied = [w for w in writes if w["status"] == "applied"]
    per_action = Counter((w["actor_id"], w["action"]) for w in applied)
    written = {w["actor_id"] for w in applied}
    approved_actors = {w.removeprefix("investigation-") for w in approved}
    print(
        f"scale-out: 2 workers (1 SIGKILLed), 2 gateways, {len(fired)} alerts delivered twice, "
        f"{len(statuses)} investigations, {len(written - approved_actors)} accounts written automatically, "
        f"{len(approved_actors)} approved in Slack, {len(applied)} writes"
    )
    assert max(per_action.values()) == 1, [k for k, n in per_action.items() if n > 1]  # exactly once
    assert len(written - approved_actors) == LIMIT  # the limit held across processes
    assert approved and approved_actors <= written  # every click acted on
