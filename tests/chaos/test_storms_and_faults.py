"""Alert storms and a flaky Akku: one investigation per person, one request per decision, the
governor's limit held, every run ending correctly, and Retry-After honoured."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from cli import driver
from cli.rig import running_stack
from cli.stack import Stack


async def sim_get(http: httpx.AsyncClient, stack: Stack, path: str) -> dict[str, Any]:
    data: dict[str, Any] = (await http.get(f"{driver.simulator_root(stack.akku_url)}{path}")).json()
    return data


async def storm(client: Client, task_queue: str, alerts: int, actors: int) -> None:
    async with running_stack(client, task_queue) as stack, httpx.AsyncClient(timeout=60) as http:
        base = await driver.load_scenario(http, stack, "credential_stuffing", count=actors)
        people = base["actor_ids"]
        answers = await asyncio.gather(
            *(driver.deliver(http, stack, "generic", base, alert_id=f"storm-{i}") for i in range(alerts))
        )
        assert all(a.status_code == 202 for a in answers)
        runs = {a.json()["workflow_id"] for a in answers}
        assert len(runs) == alerts
        fired = [driver.Fired("storm", "generic", base, run, "started", base["window_end"]) for run in runs]
        statuses: dict[str, Any] = {}
        for f in fired:
            statuses.update(await driver.settle(stack, f, timeout=240, http=http))
        assert len(statuses) == len(people)  # one investigation per person, however many alerts
        writes = (await sim_get(http, stack, "/_sim/writes"))["writes"]
        locks = Counter(w["actor_id"] for w in writes if w["action"] == "lock" and w["status"] == "applied")
        assert max(locks.values()) == 1 and len(locks) <= 25  # the governor's limit, across all runs
        pending = [w for w, s in statuses.items() if s.pending is not None]
        assert len(pending) == len(people) - len(locks)
        assert stack.slack_url
        messages = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")).json()["messages"]
        approval_requests = [m for m in messages if "riposte_decide" in str(m["blocks"]) and not m.get("thread_ts")]
        digests = [m for m in messages if "riposte_digest" in str(m["blocks"])]
        per_actor = Counter(next(p for p in people if f"`{p}`" in str(m["blocks"])) for m in approval_requests)
        assert max(per_actor.values(), default=1) == 1  # never a second request for the same person
        if len(pending) > 2:  # a wave: two requests on their own, then one digest for all of them
            assert len(digests) == 1 and len(approval_requests) <= 2, (len(digests), len(approval_requests))
        else:
            assert len(approval_requests) == len(pending)
        print(
            f"storm: {alerts} alerts x {actors} people -> {len(statuses)} investigations, "
            f"{len(locks)} automatic locks (limit 25), {len(approval_requests)} approval requests"
        )


async def test_an_alert_storm_about_the_same_people(client: Client, task_queue: str) -> None:
    await storm(client, task_queue, alerts=10, actors=40)


@pytest.mark.slow
@pytest.mark.timeout(600)  # 10,000 findings into 200 investigations: about 2.5 minutes on 2 cores
async def test_the_full_storm_50_alerts_about_200_people(client: Client, task_queue: str) -> None:
    await storm(client, task_queue, alerts=50, actors=200)


async def flaky_akku(client: Client, task_queue: str, kinds: list[str], rounds: int) -> None:
    async with running_stack(client, task_queue) as stack, httpx.AsyncClient(timeout=60) as http:
        root = driver.simulator_root(stack.akku_url)
        await http.post(f"{root}/_sim/faults", json={"rate": 0.3, "kinds": kinds, "retry_after": 1, "seed": 7})
        fired = []
        for _ in range(rounds):
            fired.append(await driver.fire_scenario(stack, "mfa_fatigue", http=http))
        fired.append(await driver.fire_scenario(stack, "admin_elevation", http=http))
        for f in fired:
            statuses = await driver.settle(stack, f, approve=True, timeout=240, http=http)
            for workflow_id, status in statuses.items():
                if status.stage != "acted":
                    status = await driver.wait_for_stage(stack.client, workflow_id, "approved", timeout=120)
                failed = [r for d in status.decisions for r in d.results if r.status == "failed"]
                assert not failed, failed
        writes = (await sim_get(http, stack, "/_sim/writes"))["writes"]
        applied = Counter((w["actor_id"], w["action"]) for w in writes if w["status"] == "applied")
        assert max(applied.values()) == 1 and len(applied) == 2 * rounds + 1
        requests = (await sim_get(http, stack, "/_sim/requests?limit=20000"))["requests"]
        faults = Counter(r["fault"] for r in requests if r["fault"])
        assert faults, "no fault was injected"
        early = retry_after_violations(requests)
        assert early == [], early
        print(f"flaky Akku: {len(requests)} requests, faults {dict(faults)}, {len(applied)} writes applied once each")


def retry_after_violations(requests: list[dict[str, Any]]) -> list[str]:
    """No request to a per-person path before a 429's Retry-After (1 s) elapsed."""
    last_429: dict[tuple[str, str], datetime] = {}
    early = []
    for r in requests:
        key = (r["method"], r["path"])
        at = datetime.fromisoformat(r["at"])
        if "/v1/users/u_" not in r["path"]:
            continue
        if key in last_429 and (at - last_429[key]).total_seconds() < 0.99:
            early.append(f"{key} {(at - last_429[key]).total_seconds():.3f}s after a 429")
        if r["fault"] == "429":
            last_429[key] = at
    return early


async def test_akku_failing_30_percent_of_requests(client: Client, task_queue: str) -> None:
    await flaky_akku(client, task_queue, ["429", "500", "503", "bad_json", "drop"], rounds=6)


@pytest.mark.slow
async def test_akku_failing_30_percent_with_timeouts(client: Client, task_queue: str) -> None:
    await flaky_akku(client, task_queue, ["429", "500", "503", "bad_json", "drop", "timeout"], rounds=20)
