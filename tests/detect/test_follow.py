"""The detector end to end: events written into the Akku simulator, read over HTTP by the worker's
follow_akku activity, rules fired, alert runs started with source akku, investigations opened.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from cli import driver
from cli.driver import simulator_root
from cli.rig import clean_env, free_port
from detect.models import Checkpoint
from riposte import search_attributes as sa
from tests.detect.support import ago, detecting_stack, event, wait_for, write
from worker import running_worker

RIPOSTE = str(Path(sys.executable).with_name("riposte"))


def cli_env(stack: Any) -> dict[str, str]:
    return clean_env(
        TEMPORAL_ADDRESS=stack.settings.target_host,
        TEMPORAL_TASK_QUEUE=stack.settings.temporal_task_queue,
        COLUMNS="200",
    )


EXPECTED = {
    ("push_flood", "u_10011"),
    ("mfa_failure_spike", "ip:203.0.113.50"),
    ("brute_force_ip", "ip:203.0.113.66"),
    ("lockout_cluster", "all"),
    ("recovery_storm", "all"),
    ("impossible_travel", "u_10061"),
    ("dormant_account", "u_20001"),
}


def attacks() -> list[dict[str, Any]]:
    """Each rule's pattern at its threshold, and near-misses one below it."""
    events = []
    events += [event("mfa.challenge_issued", "u_10011", ago(60 - 5 * i), mfa_method="push") for i in range(6)]
    events += [event("mfa.challenge_issued", "u_10012", ago(60 - 5 * i), mfa_method="push") for i in range(5)]
    events += [
        event(
            "mfa.failure", f"u_{10021 + i}", ago(50 - i), "203.0.113.50", mfa_method="TOTP", failure_reason="wrong_code"
        )
        for i in range(5)
    ]
    events += [
        event(
            "mfa.failure", f"u_{10026 + i}", ago(50 - i), "203.0.113.51", mfa_method="TOTP", failure_reason="wrong_code"
        )
        for i in range(4)
    ]
    events += [
        event("login.failure", f"u_{10031 + i % 4}", ago(40 - i), "203.0.113.66", outcome="failure") for i in range(6)
    ]
    events += [
        event("login.failure", f"u_{10035 + i % 4}", ago(40 - i), "203.0.113.67", outcome="failure") for i in range(5)
    ]
    events += [event("account.locked", f"u_{10041 + i}", ago(30 - i), failed_attempt_count=7) for i in range(3)]
    events += [event("recovery.attempted", f"u_{10051 + i}", ago(30 - i), recovery_method="helpdesk") for i in range(3)]
    events += [
        event("login.success", "u_10061", ago(25 * 60), "198.51.100.31", "Chennai", outcome="success"),
        event("login.success", "u_10061", ago(5 * 60), "203.0.113.88", "Frankfurt", outcome="success"),
        event("login.success", "u_10062", ago(25 * 60), "198.51.100.32", "Chennai", outcome="success"),
        event("login.success", "u_10062", ago(6 * 60), "192.0.2.10", "Frankfurt", outcome="success"),  # VPN egress
        event("login.success", "u_20001", ago(60), "203.0.113.99", "London", outcome="success"),
    ]
    return events


def keys(checkpoint: Checkpoint) -> set[tuple[str, str]]:
    return {(f.rule, f.key) for f in checkpoint.firings}


async def test_every_rule_fires_once_and_starts_an_akku_alert_run(client: Client, task_queue: str) -> None:
    async with detecting_stack(client, task_queue, mode="stream") as stack, httpx.AsyncClient(timeout=30) as http:
        written = await write(http, stack, attacks())
        found = await wait_for(
            stack, lambda c: keys(c) >= EXPECTED and c.counters.events >= len(written), timeout=90, what="every rule"
        )
        checkpoint = found.checkpoint
        assert checkpoint is not None
        assert keys(checkpoint) == EXPECTED, keys(checkpoint) ^ EXPECTED  # and nothing below a threshold
        assert len(checkpoint.firings) == len(EXPECTED)
        assert {f.status for f in checkpoint.firings} == {"started"}
        assert checkpoint.mode == "stream" and checkpoint.counters.malformed == 0

        flood = next(f for f in checkpoint.firings if f.rule == "push_flood")
        handle = stack.client.get_workflow_handle(flood.workflow_id)
        description = await handle.describe()
        assert description.typed_search_attributes.get(sa.SOURCE) == "akku"
        assert description.typed_search_attributes.get(sa.DETECTION) == ["mfa_fatigue"]
        outcome = await driver.alert_outcome(stack.client, flood.workflow_id, timeout=60)
        assert "investigation-u_10011" in outcome.investigations
        status = await driver.wait_for_stage(stack.client, "investigation-u_10011", "acted", timeout=60)
        assert {r.action.value for d in status.decisions for r in d.results} == {"reset_mfa", "force_password_reset"}
        assert len({f.workflow_id for f in checkpoint.firings}) == len(EXPECTED)

        # the operator's view: `riposte detect status`, from the checkpoint alone
        shell = await asyncio.create_subprocess_exec(
            RIPOSTE, "detect", "status", "--json", env=cli_env(stack), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await shell.communicate()
        assert shell.returncode == 0
        shown = json.loads(out)
        assert shown["running"] is True and shown["workflow_id"] == f"riposte-detector/{task_queue}"
        assert len(shown["checkpoint"]["firings"]) == len(EXPECTED)
        table = await asyncio.create_subprocess_exec(
            RIPOSTE, "detect", "status", env=cli_env(stack), stdout=asyncio.subprocess.PIPE
        )
        text = (await table.communicate())[0].decode()
        assert table.returncode == 0 and "lag behind Akku" in text and "push_flood 1" in text
        missing = await asyncio.create_subprocess_exec(
            RIPOSTE,
            "detect",
            "status",
            env={**cli_env(stack), "TEMPORAL_TASK_QUEUE": "no-such-queue"},
            stderr=asyncio.subprocess.PIPE,
        )
        assert await missing.wait() == 1


async def test_a_malformed_event_is_counted_and_skipped_and_polling_reads_on(client: Client, task_queue: str) -> None:
    port = free_port()
    async with (
        detecting_stack(client, task_queue, mode="poll", riposte_metrics_port=port) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        await write(http, stack, [event("mfa.challenge_issued", "u_10071", ago(20), mfa_method="carrier_pigeon")])
        await write(
            http, stack, [event("mfa.challenge_issued", "u_10072", ago(15 - i), mfa_method="push") for i in range(6)]
        )
        found = await wait_for(stack, lambda c: ("push_flood", "u_10072") in keys(c), timeout=60, what="push flood")
        assert found.checkpoint is not None
        assert found.checkpoint.counters.malformed >= 1 and found.checkpoint.mode == "poll"
        assert found.checkpoint.counters.events == 6
        metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        assert 'riposte_detector_firings_total{rule="push_flood",status="started"}' in metrics
        assert "riposte_detector_lag_seconds" in metrics
        malformed = next(line for line in metrics.splitlines() if line.startswith("riposte_detector_malformed_total"))
        assert float(malformed.split()[-1]) >= 1


async def test_an_unavailable_stream_falls_back_to_polling_and_comes_back(client: Client, task_queue: str) -> None:
    async with (
        detecting_stack(client, task_queue, mode="stream", worker=False) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        root = simulator_root(stack.akku_url)
        fault = {"rate": 1.0, "kinds": ["503"], "paths": "/v1/auth-events/stream"}
        assert (await http.post(f"{root}/_sim/faults", json=fault)).status_code == 200
        async with running_worker(stack.settings, stack.client):
            during = await write(
                http,
                stack,
                [event("mfa.challenge_issued", "u_10082", ago(10 - i), mfa_method="push") for i in range(6)],
            )
            down = await wait_for(stack, lambda c: ("push_flood", "u_10082") in keys(c), timeout=60, what="polling")
            assert down.checkpoint is not None and down.checkpoint.mode == "poll-fallback"
            assert down.checkpoint.counters.fallbacks == 1
            assert (await http.delete(f"{root}/_sim/faults")).status_code == 200
            after = await write(
                http, stack, [event("mfa.challenge_issued", "u_10083", ago(6 - i), mfa_method="push") for i in range(6)]
            )
            up = await wait_for(
                stack, lambda c: ("push_flood", "u_10083") in keys(c) and c.mode == "stream", timeout=60, what="stream"
            )
        assert up.checkpoint is not None
        assert up.checkpoint.counters.events == len(during) + len(after)  # each once, though read twice
        assert up.checkpoint.counters.duplicates >= len(during)  # the stream re-sent what polling had read
        assert [f.rule for f in up.checkpoint.firings].count("push_flood") == 2


async def test_a_stream_broken_mid_way_resumes_from_its_position(client: Client, task_queue: str) -> None:
    """Assumes the Akku simulator's stream faults (akku-sim branch): a disconnect after N lines of a
    connection, and a bad line; both once."""
    async with detecting_stack(client, task_queue, mode="stream") as stack, httpx.AsyncClient(timeout=30) as http:
        root = simulator_root(stack.akku_url)
        await wait_for(stack, lambda c: c.heartbeat_at is not None, what="the first checkpoint")
        faults = {
            "stream": [
                {"kind": "bad_line", "after_lines": 2, "times": 1},
                {"kind": "disconnect", "after_lines": 5, "times": 1, "abrupt": True},
            ]
        }
        assert (await http.post(f"{root}/_sim/faults", json=faults)).status_code == 200
        burst = [
            event("mfa.challenge_issued", f"u_{10090 + i // 6}", ago(20 - i / 2), mfa_method="push") for i in range(18)
        ]
        written = await write(http, stack, burst)
        found = await wait_for(
            stack,
            lambda c: {("push_flood", f"u_{10090 + k}") for k in range(3)} <= keys(c) and c.counters.reconnects >= 1,
            timeout=60,
            what="the burst after a disconnect",
        )
        checkpoint = found.checkpoint
        assert checkpoint is not None
        assert checkpoint.counters.events == len(written)  # nothing skipped, nothing counted twice
        assert checkpoint.counters.malformed == 1
        assert len(checkpoint.firings) == 3


async def test_a_stopped_worker_hands_the_detector_on_from_its_position(client: Client, task_queue: str) -> None:
    async with (
        detecting_stack(client, task_queue, mode="stream", worker=False) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        before = [event("mfa.challenge_issued", "u_10131", ago(40 - i), mfa_method="push") for i in range(6)]
        async with running_worker(stack.settings, stack.client):
            written = await write(http, stack, before)
            await wait_for(stack, lambda c: ("push_flood", "u_10131") in keys(c), what="the first worker")
        stopped = asyncio.get_running_loop().time()
        written += await write(
            http, stack, [event("mfa.challenge_issued", "u_10132", ago(10 - i), mfa_method="push") for i in range(6)]
        )
        async with running_worker(stack.settings, stack.client):
            found = await wait_for(
                stack, lambda c: ("push_flood", "u_10132") in keys(c) and c.counters.attempts == 2, what="the next"
            )
        assert asyncio.get_running_loop().time() - stopped < 20  # no heartbeat timeout to wait out
        checkpoint = found.checkpoint
        assert checkpoint is not None
        assert checkpoint.counters.events == len(written) and checkpoint.counters.replayed >= len(before)
        assert [(f.rule, f.key, f.status) for f in checkpoint.firings] == [
            ("push_flood", "u_10131", "started"),
            ("push_flood", "u_10132", "started"),
        ]  # the first flood, read again, stayed quiet: its quiet period came back with the checkpoint


async def test_the_same_attack_from_the_siem_and_the_stream_is_one_investigation_acting_once(
    client: Client, task_queue: str
) -> None:
    async with detecting_stack(client, task_queue, mode="stream") as stack, httpx.AsyncClient(timeout=30) as http:
        actor = "u_10141"
        facts = await driver.load_scenario(http, stack, "mfa_fatigue", actor_ids=[actor])  # its events, into Akku
        answer = await driver.deliver(http, stack, "elastic", facts)  # and the SIEM's alert about them
        assert answer.status_code == 202, answer.text
        siem_run = answer.json()["workflow_id"]
        found = await wait_for(stack, lambda c: ("push_flood", actor) in keys(c), what="the stream")
        assert found.checkpoint is not None
        stream_run = next(f.workflow_id for f in found.checkpoint.firings if f.key == actor)
        assert stream_run != siem_run
        for run in (siem_run, stream_run):
            outcome = await driver.alert_outcome(stack.client, run, timeout=60)
            assert outcome.investigations == [f"investigation-{actor}"]
        await driver.wait_for_stage(stack.client, f"investigation-{actor}", "acted", timeout=60)
        await asyncio.sleep(2)  # both findings are in (both runs dispatched): a second action would show by now
        writes = (await http.get(f"{simulator_root(stack.akku_url)}/_sim/writes", params={"actor_id": actor})).json()
        # each action written once: a second decision would write again under its own key (already_applied)
        assert sorted(w["action"] for w in writes["writes"] if w["status"] != "replayed") == [
            "mfa_reset",
            "password_reset",
        ]
        status = await driver.investigation_status(stack.client, f"investigation-{actor}")
        assert status is not None and len([d for d in status.decisions if d.results]) == 1
