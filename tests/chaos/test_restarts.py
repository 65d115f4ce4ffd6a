"""Restarts of the parts that hold no state of their own, and of the one that holds it all.

- The Temporal dev server stopped and started again on its SQLite file, with runs in flight and
  runs waiting for a person: every one continues.
- The webhook gateway SIGKILLed in the middle of a stream of deliveries: every delivery that got
  a 202 has a run, none has two (the sender retries the others, as SIEMs do).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from cli import driver
from cli.devserver import DevServer
from cli.rig import WEBHOOK_TOKEN, clean_env, free_port, running_stack
from riposte.temporal import data_converter

RIPOSTE = str(Path(sys.executable).with_name("riposte"))


async def test_runs_survive_a_temporal_restart(tmp_path: Path) -> None:
    server = DevServer(port=free_port(), ui_port=None, db_file=tmp_path / "temporal.db", log_file=tmp_path / "t.log")
    await server.start()
    try:
        client = await Client.connect(server.address, data_converter=data_converter())
        async with running_stack(client, "restart-queue") as stack, httpx.AsyncClient(timeout=30) as http:
            waiting = await driver.fire_scenario(stack, "admin_elevation", http=http)
            ((approval_id, status),) = (await driver.settle(stack, waiting, http=http)).items()
            assert status.pending is not None
            facts = await driver.load_scenario(http, stack, "credential_stuffing", count=12)
            in_flight = await driver.deliver(http, stack, "generic", facts)
            assert in_flight.status_code == 202

            server.stop()  # runs mid-enrichment and one waiting for a person
            await asyncio.sleep(1)
            await server.start()

            fired = driver.Fired(
                "credential_stuffing", "generic", facts, in_flight.json()["workflow_id"], "started", datetime.now(UTC)
            )
            statuses = await driver.settle(stack, fired, timeout=120, http=http)
            assert len(statuses) >= 12 and all(s.stage == "acted" for s in statuses.values())
            assert await driver.decide_via_cli(stack, approval_id) == 0
            await driver.wait_for_stage(stack.client, approval_id, "approved", timeout=60)
    finally:
        server.stop()


def workflow_id_for(alert_id: str) -> str:
    return f"alert-generic-{hashlib.sha256(alert_id.encode()).hexdigest()[:32]}"


async def test_a_killed_gateway_loses_no_acknowledged_alert_and_starts_none_twice(
    client: Client, task_queue: str
) -> None:
    port = free_port()
    env = clean_env(
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=task_queue,  # no worker: a started run simply waits, which is all we count
        RIPOSTE_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        RIPOSTE_HTTP_PORT=str(port),
    )

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([RIPOSTE, "gateway"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def ready() -> None:
        async with httpx.AsyncClient(timeout=1) as http:
            for _ in range(200):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("gateway never became ready")

    alerts = [f"kill-{task_queue}-{i}" for i in range(40)]
    acknowledged: dict[str, str] = {}
    gateway = start()
    await ready()
    kills = 0
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            pending = list(alerts)
            while pending:
                alert_id = pending[0]
                if kills == 0 and len(acknowledged) == 15:
                    gateway.send_signal(signal.SIGKILL)  # mid-stream, with requests in the air
                    gateway.wait()
                    kills += 1
                body = {
                    "alert_id": alert_id,
                    "rule_name": "MFA push flood",
                    "detection": "mfa_fatigue",
                    "actors": ["u_10001"],
                }
                try:
                    answer = await http.post(
                        f"http://127.0.0.1:{port}/webhooks/generic",
                        json=body,
                        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
                    )
                except httpx.HTTPError:  # the gateway is down: a SIEM retries later
                    if gateway.poll() is not None:
                        gateway = start()
                        await ready()
                    continue
                assert answer.status_code == 202, answer.text
                acknowledged[alert_id] = answer.json()["workflow_id"]
                pending.pop(0)
    finally:
        gateway.kill()
        gateway.wait()
    assert kills == 1 and set(acknowledged) == set(alerts)
    for alert_id, workflow_id in acknowledged.items():
        assert workflow_id == workflow_id_for(alert_id)
        runs = [e async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        assert len(runs) == 1, alert_id
    for workflow_id in acknowledged.values():
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(workflow_id).terminate("test finished")
