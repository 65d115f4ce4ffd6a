"""Where a sustained alert's CPU goes: py-spy over the stack's process while Riposte is saturated.

    python -m bench.profile [--seconds 20] [--out profile.txt]

The same saturated load as the interleaved rounds' Riposte figure (bench/interleaved.py: one-
person MFA-fatigue alerts from 32 loops, each until both writes are applied) on the embedded
stack, with the simulators in a process of their own; py-spy samples this process (worker,
gateway and driver share it) for `seconds` and writes collapsed stacks. `summarise` folds them
into the share of samples by layer: the workflow sandbox and workflow code, the SDK's
activation and payload conversion, activities and their HTTP clients, the gateway, the driver.
The dev server's CPU is measured apart (per alert, from /proc) by the bench itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from bench.__main__ import bench_config
from bench.cpu import dev_server_pid
from bench.interleaved import riposte_people, riposte_saturated
from bench.sims import simulators
from cli.rig import free_port, start_dev_server
from cli.stack import StackOptions, embedded_stack
from riposte.settings import load_settings

PY_SPY = str(Path(sys.executable).with_name("py-spy"))

# a sample goes to the layer of its innermost frame that has one (py-spy lists the innermost last)
LAYERS = (
    ("bench driver (the load: its HTTP client, the write log polls)", ("bench/", "cli/driver")),
    ("gateway (FastAPI, uvicorn)", ("gateway/", "fastapi", "starlette", "uvicorn")),
    ("workflow sandbox (module re-import, exec per activation)", ("workflow_sandbox/",)),
    ("workflow code", ("workflows/",)),
    ("payload conversion (pydantic, JSON)", ("converter", "pydantic")),
    ("Temporal client calls (signal-with-start, permit updates)", ("temporalio/client", "temporalio/service")),
    ("SDK worker (activations, polling, bridge)", ("temporalio/worker", "temporalio/bridge")),
    ("activities: Akku client (httpx)", ("clients/akku", "activities/akku", "activities/dispatch")),
    ("activities: Slack client (aiohttp)", ("slack_sdk", "aiohttp", "clients/slack", "activities/slack")),
    ("activities: other", ("activities/",)),
    ("HTTP (httpx, httpcore) outside the above", ("httpx", "httpcore")),
    ("asyncio event loop", ("asyncio/",)),
)


def summarise(collapsed: str) -> list[tuple[str, float]]:
    """Share of samples per layer from py-spy's raw (collapsed) output: `frame;frame;... count`."""
    counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        samples = int(n)
        total += samples
        frames = stack.split(";")
        layer = next(  # the innermost frame that belongs to a layer says what was running
            (name for f in reversed(frames) for name, marks in LAYERS if any(m in f for m in marks)),
            "other",
        )
        counts[layer] += samples
    return [(name, 100 * n / total) for name, n in counts.most_common()] if total else []


async def profile(seconds: float, out: Path) -> list[tuple[str, float]]:
    env = await start_dev_server()
    try:
        playbooks, sources = bench_config()
        queue = f"bench-profile-{uuid.uuid4().hex[:8]}"
        people = riposte_people(seconds) + 40
        settings = load_settings(
            riposte_sources_file=sources,
            temporal_address=env.client.service_client.config.target_host,
            temporal_task_queue=queue,
            akku_base_url=f"http://127.0.0.1:{free_port()}/api",
            slack_api_url=f"http://127.0.0.1:{free_port()}/api/",
            riposte_http_port=free_port(),
            riposte_playbooks_dir=playbooks,
        )
        async with (
            embedded_stack(settings, StackOptions(quiet=True, akku_staff=people + 100)) as stack,
            simulators(stack, people + 100) as sims,
        ):
            pids = {"python": os.getpid(), "simulators": sims.pid}
            if (server := dev_server_pid()) is not None:
                pids["server"] = server
            spy = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv; runs beside the load
                [
                    *(PY_SPY, "record", "--pid", str(os.getpid()), "--format", "raw", "--output", str(out)),
                    *("--duration", str(int(seconds)), "--rate", "100", "--nonblocking"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            ids = [f"u_{10001 + n}" for n in range(people)]
            rate, cpu = await riposte_saturated(stack, seconds, ids, pids=pids)
            await asyncio.to_thread(spy.wait, 60)
            print(f"riposte saturated: {rate:.1f} alerts/s; CPU per alert by process (ms): {cpu}")
    finally:
        await env.shutdown()
    return summarise(await asyncio.to_thread(out.read_text))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--out", type=Path, default=Path("profile.txt"))
    parser.add_argument("--summarise", action="store_true", help="only fold an existing --out file")
    args = parser.parse_args()
    shares = summarise(args.out.read_text()) if args.summarise else asyncio.run(profile(args.seconds, args.out))
    for layer, share in shares:
        print(f"{share:5.1f}%  {layer}")
