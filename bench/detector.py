"""Figures of the Akku-stream detector (docs/detection.md): latency, keeping up, memory.

    figures = await detector_figures(client, quick=True)      # from bench/__main__.py
    python -m bench.detector [--quick] [--skip-poll]         # on its own (an embedded dev server)

For each mode the Akku simulator, gateway and Slack simulator run in this process and the
worker is a separate `riposte worker` process with RIPOSTE_DETECT set, so its peak RSS is the
detector's (plus an idle worker's). Measured:

- latency: a push flood (6 pushes, the last one stamped now) written into the Akku simulator
  → the alert run's start time on the Temporal server; stream (target p50 ≤ 5 s) and polling
  once a minute (target ≤ 70 s);
- keeping up: background sign-ins at `rate` events/s for `seconds` (the simulator's traffic
  generator, POST /_sim/traffic, when it has one; otherwise this process writes them), the
  detector's lag (now - newest event processed) sampled each second (target < 10 s at
  2,000 events/s), and its events/s;
- the worker process's peak RSS (VmHWM).

Each beside its baseline, taken in the same run on the same events: a plain reader (Riposte's
Akku client and nothing else: no rules, no checkpoint, no Temporal) reads the same stream, or
polls at the same interval, concurrently with the detector. Its event written → flood read is
what Akku's delivery alone costs; its lag under the same traffic is how fast a bare client
drains the stream on this machine. The RSS baseline is an idle worker (RIPOSTE_DETECT=off).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.stats import Sample
from cli.detect import read_status
from cli.driver import simulator_root
from cli.rig import process_env, stack_settings, terminate_open_workflows
from cli.stack import Stack, StackOptions, embedded_stack
from clients.akku.adapter import timestamp
from clients.akku.client import AkkuClient
from clients.akku.models import AuthEvent

RIPOSTE = str(Path(sys.executable).with_name("riposte"))
PUSHES = 6  # a flood's pushes (`_flood`)
PUSH = "mfa.challenge_issued"


class PlainReader:
    """The baseline: Riposte's Akku client reading the stream (or polling) and nothing else.

    Records when each actor's flood was wholly read (its last push arrived) and, sampled by
    `lag()`, how far the newest event it read lags behind the clock.
    """

    def __init__(self, akku: AkkuClient, mode: str, poll_seconds: float) -> None:
        self._akku, self._mode, self._poll = akku, mode, poll_seconds
        self._pushes: dict[str, int] = {}
        self.flood_read: dict[str, float] = {}  # actor -> wall time its last push was read
        self.newest: datetime | None = None
        self._seen: set[str] = set()
        self._start = datetime.now(UTC) - timedelta(minutes=1)  # a flood's pushes are stamped up to 5 s back
        self._task: asyncio.Task[None] | None = None

    def _take(self, event: AuthEvent) -> None:
        if event.event_id in self._seen:  # a reconnect or an overlapping poll delivers it again
            return
        self._seen.add(event.event_id)
        if self.newest is None or event.timestamp > self.newest:
            self.newest = event.timestamp
        if event.event_type == PUSH:
            n = self._pushes[event.actor_id] = self._pushes.get(event.actor_id, 0) + 1
            if n == PUSHES:
                self.flood_read[event.actor_id] = datetime.now(UTC).timestamp()

    async def _stream(self) -> None:
        since = self._start
        while True:  # reconnect from the newest event read, as any stream reader must
            with contextlib.suppress(Exception):
                async for event in self._akku.stream_events(since):
                    self._take(event)
                    since = max(since, event.timestamp)
            await asyncio.sleep(0.2)

    async def _polling(self) -> None:
        since = self._start
        while True:
            await asyncio.sleep(self._poll)
            polled = datetime.now(UTC)
            with contextlib.suppress(Exception):
                async for event in self._akku.iter_events(since - timedelta(seconds=30)):
                    self._take(event)
                since = polled

    def lag(self) -> float | None:
        return (datetime.now(UTC) - self.newest).total_seconds() if self.newest else None

    async def __aenter__(self) -> PlainReader:
        self._task = asyncio.create_task(self._stream() if self._mode == "stream" else self._polling())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.asynccontextmanager
async def detecting(
    client: Client, mode: str, poll_seconds: float
) -> AsyncIterator[tuple[Stack, subprocess.Popen[bytes]]]:
    queue = f"bench-detect-{mode}-{uuid.uuid4().hex[:6]}"
    settings = stack_settings(client, queue, riposte_detect=mode, riposte_detect_poll_seconds=poll_seconds)
    env = process_env(
        settings,
        RIPOSTE_DETECT=mode,
        RIPOSTE_DETECT_POLL_SECONDS=str(poll_seconds),
        RIPOSTE_DETECT_LATENESS_SECONDS="30",
    )
    try:
        async with embedded_stack(settings, StackOptions(quiet=True, worker=False, akku_heartbeat_seconds=1)) as stack:
            worker = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv; Popen returns at once
                [RIPOSTE, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                await _until(stack, lambda c: c.heartbeat_at is not None, 60)
                yield stack, worker
            finally:
                worker.terminate()
                worker.wait(timeout=30)
    finally:
        await terminate_open_workflows(client, queue)


async def _until(stack: Stack, check: Any, timeout: float) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        status = await read_status(stack.client, stack.settings.temporal_task_queue)
        if status is not None and status.checkpoint is not None and check(status.checkpoint):
            return status.checkpoint
        await asyncio.sleep(0.1)
    raise TimeoutError("the detector did not get there in time")


async def _flood(http: httpx.AsyncClient, stack: Stack, actor: str) -> float:
    """Write a push flood whose last push is stamped now; returns the wall time it was written."""
    now = datetime.now(UTC)
    events = [
        {
            "event_type": "mfa.challenge_issued",
            "actor_id": actor,
            "mfa_method": "push",
            "timestamp": timestamp(now - timedelta(seconds=5 - i)),
        }
        for i in range(6)
    ]
    answer = await http.post(f"{simulator_root(stack.akku_url)}/_sim/events", json={"events": events})
    answer.raise_for_status()
    return now.timestamp()


async def latency(
    stack: Stack, http: httpx.AsyncClient, n: int, timeout: float, plain: PlainReader
) -> tuple[Sample, Sample]:
    """Event written → alert run started, and → the same flood read by the plain reader."""
    mode = stack.settings.riposte_detect
    sample = Sample(f"Akku event → alert run started ({mode})")
    baseline = Sample(f"Akku event → read by a plain client ({mode})")
    for k in range(n):
        actor = f"u_{10001 + k}"
        written = await _flood(http, stack, actor)
        checkpoint = await _until(stack, lambda c, a=actor: any(f.key == a for f in c.firings), timeout)
        firing = next(f for f in checkpoint.firings if f.key == actor)
        started = (await stack.client.get_workflow_handle(firing.workflow_id).describe()).start_time
        sample.add(started.timestamp() - written if started else float("nan"))
        for _ in range(int(timeout * 10)):
            if actor in plain.flood_read:
                break
            await asyncio.sleep(0.1)
        baseline.add(plain.flood_read[actor] - written if actor in plain.flood_read else float("nan"))
    return sample, baseline


async def _write_traffic(http: httpx.AsyncClient, stack: Stack, rate: int, seconds: float) -> int:
    """Benign sign-ins from the office at `rate` events/s, written by this process in 10 batches a second."""
    root = simulator_root(stack.akku_url)
    loop = asyncio.get_running_loop()
    start, written, batch = loop.time(), 0, max(1, rate // 10)
    while loop.time() - start < seconds:
        now = datetime.now(UTC)
        events = [
            {
                "event_type": "login.success",
                "actor_id": f"u_{10001 + (written + i) % 150}",
                "timestamp": timestamp(now),
                "source_ip": f"198.51.100.{(written + i) % 200 + 1}",
                "city": "Chennai",
                "outcome": "success",
            }
            for i in range(batch)
        ]
        (await http.post(f"{root}/_sim/events", json={"events": events})).raise_for_status()
        written += batch
        behind = start + written / rate - loop.time()
        if behind > 0:
            await asyncio.sleep(behind)
    return written


async def keeping_up(
    stack: Stack, http: httpx.AsyncClient, rate: int, seconds: float, plain: PlainReader
) -> dict[str, Any]:
    root = simulator_root(stack.akku_url)
    lags: list[float] = []
    plain_lags: list[float] = []
    rates: list[float] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            status = await read_status(stack.client, stack.settings.temporal_task_queue)
            if status is not None and status.checkpoint is not None and status.checkpoint.lag_seconds is not None:
                lags.append(status.checkpoint.lag_seconds)
                rates.append(status.checkpoint.events_per_second)
            if (lag := plain.lag()) is not None:
                plain_lags.append(lag)
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    generator = await http.post(f"{root}/_sim/traffic", json={"events_per_second": rate, "seconds": seconds})
    if generator.status_code == 200:
        source = "simulator traffic generator"
        await asyncio.sleep(seconds)
        report = await http.get(f"{root}/_sim/traffic")
        written = int(report.json().get("events_written", 0) or 0) if report.status_code == 200 else 0
    else:
        source = "written by the bench"
        written = await _write_traffic(http, stack, rate, seconds)
    await asyncio.sleep(3)
    stop.set()
    await sampler
    steady = lags[len(lags) // 4 :] or lags
    plain_steady = plain_lags[len(plain_lags) // 4 :] or plain_lags
    return {
        "rate_asked": rate,
        "seconds": seconds,
        "events_written": written,
        "traffic": source,
        "lag_p50_s": sorted(steady)[len(steady) // 2] if steady else None,
        "lag_max_s": max(steady) if steady else None,
        "detector_events_per_s_max": max(rates) if rates else None,
        "plain_lag_p50_s": sorted(plain_steady)[len(plain_steady) // 2] if plain_steady else None,
        "plain_lag_max_s": max(plain_steady) if plain_steady else None,
    }


async def idle_worker_rss(client: Client, seconds: float = 10.0) -> float:
    """The baseline for the detector's RSS: the same worker process with RIPOSTE_DETECT=off."""
    queue = f"bench-idle-{uuid.uuid4().hex[:6]}"
    env = process_env(stack_settings(client, queue, riposte_detect="off"), RIPOSTE_DETECT="off")
    worker = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv; Popen returns at once
        [RIPOSTE, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await asyncio.sleep(seconds)
        if worker.poll() is not None:
            raise RuntimeError(f"the idle worker exited ({worker.returncode}) before it could be measured")
        return peak_rss_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


async def detector_figures(
    client: Client, *, quick: bool = False, rate: int = 2000, poll: bool = True, poll_seconds: float = 60.0
) -> dict[str, Any]:
    """The detector's figures as a dict (latencies in seconds, RSS in MB); `quick` takes fewer samples."""
    figures: dict[str, Any] = {}
    async with (
        detecting(client, "stream", poll_seconds) as (stack, worker),
        httpx.AsyncClient(timeout=60) as http,
        AkkuClient.from_settings(stack.settings) as akku,
        PlainReader(akku, "stream", poll_seconds) as plain,
    ):
        sample, baseline = await latency(stack, http, 3 if quick else 10, timeout=60, plain=plain)
        figures["stream_latency_p50_s"], figures["stream_latency_max_s"] = sample.p50, max(sample.seconds)
        figures["plain_stream_latency_p50_s"], figures["plain_stream_latency_max_s"] = (
            baseline.p50,
            max(baseline.seconds),
        )
        figures["keeping_up"] = await keeping_up(stack, http, rate, 15 if quick else 60, plain)
        figures["worker_peak_rss_mb"] = peak_rss_mb(worker.pid)
    figures["idle_worker_peak_rss_mb"] = await idle_worker_rss(client)
    if poll:
        async with (
            detecting(client, "poll", poll_seconds) as (stack, _),
            httpx.AsyncClient(timeout=60) as http,
            AkkuClient.from_settings(stack.settings) as akku,
            PlainReader(akku, "poll", poll_seconds) as plain,
        ):
            sample, baseline = await latency(stack, http, 2 if quick else 5, timeout=poll_seconds * 2 + 30, plain=plain)
            figures["poll_latency_p50_s"], figures["poll_latency_max_s"] = sample.p50, max(sample.seconds)
            figures["plain_poll_latency_p50_s"], figures["plain_poll_latency_max_s"] = (
                baseline.p50,
                max(baseline.seconds),
            )
            figures["poll_seconds"] = poll_seconds
    figures["targets"] = {
        "stream_latency_p50_s": 5.0,
        "poll_latency_p50_s": 70.0,
        "lag_at_2000_events_per_s": 10.0,
    }
    return figures


async def _main(quick: bool, poll: bool, rate: int) -> dict[str, Any]:
    from cli.rig import start_dev_server

    env = await start_dev_server()
    try:
        return await detector_figures(env.client, quick=quick, poll=poll, rate=rate)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-poll", action="store_true", help="skip the once-a-minute polling latency (minutes)")
    parser.add_argument("--rate", type=int, default=2000, help="background events per second")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_main(args.quick, not args.skip_poll, args.rate)), indent=2))
