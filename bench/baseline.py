"""Temporal's own ceiling on this machine, measured in the same run as Riposte's figures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from bench.cpu import CpuMeter
from bench.stats import Sample

T = TypeVar("T")


@activity.defn(name="bench-noop")
async def noop(step: int) -> int:
    return step


@workflow.defn(name="BenchThreeActivities")
class ThreeActivities:
    @workflow.run
    async def run(self) -> int:
        total = 0
        for step in range(3):
            total += await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=10))
        return total


@workflow.defn(name="BenchMessages")
class Messages:
    def __init__(self) -> None:
        self.count = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.count

    @workflow.signal
    def poke(self) -> None:
        self.count += 1

    @workflow.update
    def bump(self) -> int:
        self.count += 1
        return self.count

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def sequential(client: Client, queue: str, n: int, warmup: int = 10) -> Sample:
    """One run at a time. The first few runs on a fresh server are faster than the steady state
    (measured: ~80 ms for about five runs, then ~200 ms), so warm-up runs are not counted."""
    sample = Sample("bare 3-activity workflow, one at a time")
    for _ in range(warmup):
        await client.execute_workflow(ThreeActivities.run, id=f"bench-warm-{uuid.uuid4()}", task_queue=queue)
    for _ in range(n):
        started = time.perf_counter()
        await client.execute_workflow(ThreeActivities.run, id=f"bench-seq-{uuid.uuid4()}", task_queue=queue)
        sample.add(time.perf_counter() - started)
    return sample


async def saturate(
    run_one: Callable[[], Awaitable[bool]], seconds: float, concurrency: int = 32, pids: dict[str, int] | None = None
) -> tuple[float, dict[str, float]]:
    """Runs per second with `concurrency` loops calling `run_one` (False: no work left) for
    `seconds`, and the CPU per run by process (bench/cpu.py; `pids` names more processes)."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline and await run_one():
            done += 1

    meter = CpuMeter.for_bench(**(pids or {})).start()
    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return done / elapsed, meter.stop().per_item(done)


async def saturate_pool(
    one: Callable[[T], Awaitable[None]],
    pool: list[T],
    seconds: float,
    concurrency: int = 32,
    pids: dict[str, int] | None = None,
    warm: int = 3,
) -> tuple[float, dict[str, float]]:
    """`one` for each item of `pool`: the first `warm` one at a time, then the rest saturated."""
    for item in pool[:warm]:
        await one(item)
    rest = list(pool[warm:])

    async def run_one() -> bool:
        if not rest:
            return False
        await one(rest.pop())
        return True

    return await saturate(run_one, seconds, concurrency, pids)


async def saturated(
    client: Client, queue: str, seconds: float, pids: dict[str, int] | None = None
) -> tuple[float, dict[str, float]]:
    """The bare workflow saturated by 32 concurrent starters."""

    async def run_one() -> bool:
        await client.execute_workflow(ThreeActivities.run, id=f"bench-sat-{uuid.uuid4()}", task_queue=queue)
        return True

    return await saturate(run_one, seconds, pids=pids)


async def messages(client: Client, queue: str, n: int) -> tuple[Sample, Sample]:
    handle = await client.start_workflow(Messages.run, id=f"bench-msg-{uuid.uuid4()}", task_queue=queue)
    signals, updates = Sample("signal round trip"), Sample("update round trip")
    for _ in range(n):
        started = time.perf_counter()
        await handle.signal(Messages.poke)
        signals.add(time.perf_counter() - started)
    for _ in range(n):
        started = time.perf_counter()
        await handle.execute_update(Messages.bump)
        updates.add(time.perf_counter() - started)
    await handle.signal(Messages.finish)
    return signals, updates


async def raw_starts(client: Client, queue: str, n: int, concurrency: int = 8) -> tuple[float, Sample]:
    """A raw `start_workflow` loop from a Python client: starts/s and their latency."""
    sample = Sample("raw start_workflow")
    pending = list(range(n))

    async def loop() -> None:
        while pending:
            pending.pop()
            started = time.perf_counter()
            await client.start_workflow(ThreeActivities.run, id=f"bench-start-{uuid.uuid4()}", task_queue=queue)
            sample.add(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return n / (time.perf_counter() - started), sample


def worker(client: Client, queue: str) -> Worker:
    """Runs the bare workflows (not the floor: bench/floor.py has its own worker)."""
    return Worker(client, task_queue=queue, workflows=[ThreeActivities, Messages], activities=[noop])


@workflow.defn(name="BenchFloor")
class Floor:
    """The same Akku and Slack calls as one acted-on alert, in three activities (bench/floor.py)."""

    @workflow.run
    async def run(self, actor: str) -> int:
        total = 0
        for step in ("bench-floor-read", "bench-floor-write", "bench-floor-notify"):
            total += await workflow.execute_activity(
                step, actor, start_to_close_timeout=timedelta(seconds=30), result_type=int
            )
        return total
