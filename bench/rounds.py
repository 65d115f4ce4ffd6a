"""Only the interleaved rounds, for comparing one change against another:

    python -m bench.rounds [--rounds 4] [--seconds 10]

The same rounds as `make bench` (bench/interleaved.py: the bare workflow, the floor, the
invariants' skeleton and Riposte, back to back, on fresh simulators) on a dev server of their
own, printed as medians with their ranges: each process's CPU per item and every ratio. To
compare two versions of the code, run this for each in turn, and again in the other order: the
machine's speed drifts within minutes, so one run of each does not tell a change from the drift.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from rich.console import Console

from bench import baseline, floor, interleaved, skeleton
from bench.__main__ import _settings, bench_config
from bench.sims import simulators
from cli.rig import start_dev_server
from cli.stack import StackOptions, embedded_stack


async def run(count: int, seconds: float, console: Console) -> interleaved.Summary:
    env = await start_dev_server()
    try:
        client = env.client
        playbooks, sources = bench_config()
        queue = f"bench-rounds-{uuid.uuid4().hex[:8]}"
        settings = _settings(client, playbooks, sources, queue)
        staff = 100
        async with (
            embedded_stack(settings, StackOptions(quiet=True, akku_staff=staff)) as stack,
            simulators(stack, staff) as sims,
            baseline.worker(client, f"{queue}-bare"),
            floor.worker(client, stack, f"{queue}-floor"),
            skeleton.worker(client, stack, f"{queue}-skeleton"),
        ):
            results = await interleaved.rounds(
                client,
                stack,
                sims,
                (f"{queue}-bare", f"{queue}-floor", f"{queue}-skeleton"),
                count=count,
                seconds=seconds,
                first=staff,
                console=console,
            )
    finally:
        await env.shutdown()
    return interleaved.summarise(results)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rounds", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds of the four (default 4)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds each is saturated for (default 10)")
    args = parser.parse_args()
    console = Console()
    summary = asyncio.run(run(args.rounds, args.seconds, console))
    for kind in interleaved.KINDS:
        console.print(
            f"{kind:>9}: {summary.rate[kind].show(unit='/s')}; CPU per item {interleaved.describe_cpu(summary, kind)}"
        )
    for name, spread in summary.ratios.items():
        console.print(f"{name:>25}: {spread.show('.2f', 'x')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
