"""Riposte's figures, through the real gateway, playbooks, worker and simulators."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench import baseline
from bench.cpu import CpuMeter
from bench.stats import Sample
from cli import driver
from cli.rig import free_port, process_env
from cli.stack import Stack
from gateway.sources import samples
from riposte.models.runs import AlertRunOutcome
from riposte.settings import Settings


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def writes(http: httpx.AsyncClient, stack: Stack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()[
        "writes"
    ]
    return found


async def first_write(http: httpx.AsyncClient, stack: Stack, actor: str, timeout: float = 60) -> float:
    """When Akku applied the first write for `actor` (a long poll on the simulator's write log)."""
    deadline = time.time() + timeout
    after = 0
    while time.time() < deadline:
        answer = (
            await http.get(
                f"{driver.simulator_root(stack.akku_url)}/_sim/writes",
                params={"actor_id": actor, "after": after, "wait": min(10.0, max(0.0, deadline - time.time()))},
            )
        ).json()
        for w in answer["writes"]:
            if w["status"] == "applied":
                return _at(w["at"])
        after = answer["next"]
    raise TimeoutError(f"no write for {actor}")


async def alert_to_first_write(stack: Stack, n: int, warmup: int = 3) -> Sample:
    """One alert at a time: MFA fatigue on one person, acted on automatically (after warm-up
    alerts, as for the baseline)."""
    sample = Sample("alert → first Akku write")
    async with httpx.AsyncClient(timeout=30) as http:
        for k in range(warmup + n):
            facts = await driver.load_scenario(http, stack, "mfa_fatigue")
            facts["source_ips"] = []  # one person per alert: no neighbours pulled in by IP
            sent = time.time()
            answer = await driver.deliver(http, stack, "generic", facts)
            assert answer.status_code == 202, answer.text
            written = await first_write(http, stack, facts["actor_ids"][0])
            if k >= warmup:
                sample.add(written - sent)
    return sample


RIPOSTE = str(Path(sys.executable).with_name("riposte"))


@dataclass
class Ingest:
    """Gateway 202s and raw starts, taken in alternating rounds against the same server state."""

    gateway: Sample
    raw: Sample
    gateway_seconds: float = 0.0
    raw_seconds: float = 0.0
    gateway_cpu: dict[str, float] = field(default_factory=dict)  # ms per 202, by process
    raw_cpu: dict[str, float] = field(default_factory=dict)  # ms per start, by process
    ratios: list[float] = field(default_factory=list)  # gateway rate / raw rate, round by round

    @property
    def gateway_rate(self) -> float:
        return len(self.gateway.seconds) / self.gateway_seconds if self.gateway_seconds else 0.0

    @property
    def raw_rate(self) -> float:
        return len(self.raw.seconds) / self.raw_seconds if self.raw_seconds else 0.0


def _add_cpu(total: dict[str, float], part: dict[str, float], share: float) -> None:
    for name, value in part.items():
        total[name] = total.get(name, 0.0) + value * share


async def gateway_ingest(
    client: Client, settings: Settings, n: int, *, rounds: int = 3, concurrency: int = 8
) -> Ingest:
    """202s per second from a `riposte gateway` process alone (its queue has no worker: starting
    is all it does), as deployed: its own process, beside the load generator's. Each round first
    takes the raw `start_workflow` loop (the baseline) and then the gateway, so both see the same
    server: a dev server slows as it fills, and a baseline taken minutes earlier flatters it."""
    port = free_port()
    token = "bench-ingest-token"  # noqa: S105 - a throwaway token for a loopback gateway
    env = process_env(
        settings,
        TEMPORAL_TASK_QUEUE=f"bench-ingest-{uuid.uuid4().hex[:8]}",
        RIPOSTE_HTTP_HOST="127.0.0.1",
        RIPOSTE_HTTP_PORT=str(port),
        RIPOSTE_WEBHOOK_TOKEN=token,
    )
    gateway = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv; Popen returns at once
        [RIPOSTE, "gateway"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL,
    )
    result = Ingest(Sample("gateway 202"), Sample("raw start_workflow"))
    facts = {
        "scenario": "bench",
        "rule_name": "MFA push flood",
        "detection": "mfa_fatigue",
        "severity": "high",
        "actor_ids": ["u_10001"],
        "source_ips": [],
    }
    url = f"http://127.0.0.1:{port}"
    idle_queue = f"bench-idle-{uuid.uuid4().hex[:8]}"
    per_round = max(1, n // rounds)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:  # until the gateway answers and reaches Temporal
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline or gateway.poll() is not None:
                    raise RuntimeError("the gateway did not become ready")
                await asyncio.sleep(0.1)

            async def post_all(count: int) -> None:
                pending = list(range(count))

                async def loop() -> None:
                    while pending:
                        pending.pop()
                        body = samples.generic_payload(facts, alert_id=f"ingest-{uuid.uuid4()}")
                        started = time.perf_counter()
                        answer = await http.post(
                            f"{url}/webhooks/generic", json=body, headers={"Authorization": f"Bearer {token}"}
                        )
                        assert answer.status_code == 202, answer.text
                        result.gateway.add(time.perf_counter() - started)

                await asyncio.gather(*(loop() for _ in range(concurrency)))

            for _ in range(rounds):
                meter = CpuMeter.for_bench().start()
                started = time.perf_counter()
                _, raw = await baseline.raw_starts(client, idle_queue, per_round, concurrency)
                raw_seconds = time.perf_counter() - started
                result.raw_seconds += raw_seconds
                result.raw.seconds += raw.seconds
                _add_cpu(result.raw_cpu, meter.stop().per_item(per_round), 1 / rounds)

                meter = CpuMeter.for_bench(gateway=gateway.pid).start()
                started = time.perf_counter()
                await post_all(per_round)
                result.gateway_seconds += time.perf_counter() - started
                result.ratios.append(raw_seconds / (time.perf_counter() - started))
                _add_cpu(result.gateway_cpu, meter.stop().per_item(per_round), 1 / rounds)
            return result
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)


async def click_to_write(stack: Stack, n: int) -> Sample:
    """A signed block_actions POST (through the Slack simulator) until Akku applies the action.

    From the third request of a playbook in ten minutes the request waits in the approval
    digest, with no button of its own: the digest's Review individually posts it in the digest's
    thread with its own buttons, and that button is the one clicked (the same `decide` path)."""
    sample = Sample("Slack click → Akku write")
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(n):
            fired = await driver.fire_scenario(stack, "impossible_travel", http=http)
            ((workflow_id, status),) = (await driver.settle(stack, fired, http=http)).items()
            assert status.pending is not None
            option = next(o for o in status.pending.assessment.options if o.actions)
            misses = 0
            while True:  # the message is posted just after the request is pending
                clicked_at = time.time()
                answer = await driver.click(
                    http, stack, workflow_id, status.pending.request_id, option.id, stack.settings.slack_approver_ids[0]
                )
                if answer.status_code != 404:
                    break
                misses += 1
                if misses % 50 == 0:  # a second without a message of its own: in the digest
                    await driver.click_digests(http, stack, "review", set())
                await asyncio.sleep(0.02)
            sample.add(await first_write(http, stack, fired.facts["actor_ids"][0]) - clicked_at)
    return sample


QUERY = "POST /v1/auth-events/query"


async def storm(stack: Stack, people: int) -> dict[str, Any]:
    sim = driver.simulator_root(stack.akku_url)
    peak = 0.0
    stop = asyncio.Event()

    async def sample_rss() -> None:  # the stack's process: the worker, with the gateway and simulators beside it
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb(os.getpid()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    sampler = asyncio.create_task(sample_rss())
    try:
        figures = await _storm(stack, sim, people)
    finally:
        stop.set()
        await sampler
    return {**figures, "peak_rss_mb": peak}


async def _storm(stack: Stack, sim: str, people: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=120) as http:
        before = (await http.get(f"{sim}/_sim/requests?limit=1")).json()["counts"].get(QUERY, 0)
        facts = await driver.load_scenario(http, stack, "credential_stuffing", count=people)
        started = time.monotonic()
        answer = await driver.deliver(http, stack, "generic", facts, alert_id=f"storm-{uuid.uuid4()}")
        body = answer.json()
        runs = [r["workflow_id"] for r in body.get("runs") or [body]]
        investigations: list[str] = []
        for run in runs:  # each alert run ends once its investigations are open (no queries to busy runs)
            outcome = await stack.client.get_workflow_handle(run, result_type=AlertRunOutcome).result()
            investigations += outcome.investigations
        victims = set(facts["actor_ids"])
        acted: set[str] = set()
        after = 0
        while acted != victims and time.monotonic() - started < 1800:  # every named person acted on in Akku
            answer = (await http.get(f"{sim}/_sim/writes", params={"after": after, "wait": 5})).json()
            after = answer["next"]
            acted |= {w["actor_id"] for w in answer["writes"] if w["status"] == "applied"} & victims
        wall = time.monotonic() - started
        calls = (await http.get(f"{sim}/_sim/requests?limit=1")).json()["counts"].get(QUERY, 0) - before
        locks = sum(1 for w in await writes(http, stack) if w["action"] == "lock" and w["actor_id"] in victims)
    sizes = []
    for workflow_id in [*runs, investigations[0]]:
        history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
        sizes.append((len(history.events), len(history.to_json()), workflow_id))
    largest = max(sizes)
    return {
        "people": people,
        "decided": len(acted),
        "wall": wall,
        "enrichment_calls": calls,
        "largest_events": largest[0],
        "largest_bytes": largest[1],
        "largest_kind": "alert run" if largest[2] in runs else "investigation",
        "locks": locks,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def memory_with_waiting_runs(stack: Stack, runs: int) -> float:
    """RSS of a `riposte worker` process holding `runs` investigations that wait for a person."""
    queue = f"bench-mem-{uuid.uuid4().hex[:8]}"
    env = process_env(stack.settings, TEMPORAL_TASK_QUEUE=queue)
    worker = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv; Popen returns at once
        [RIPOSTE, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        from riposte.models.runs import InvestigationInput, RunOptions

        client = stack.client
        gate = asyncio.Semaphore(64)

        async def one(k: int) -> None:
            async with gate:
                await client.start_workflow(
                    "InvestigationWorkflow",
                    InvestigationInput(actor_id=f"u_mem{k}", options=RunOptions()),
                    id=f"bench-mem-{queue}-{k}",
                    task_queue=queue,
                )

        await asyncio.gather(*(one(k) for k in range(runs)))
        await asyncio.sleep(10)  # every run has taken its first workflow task and waits
        return rss_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
