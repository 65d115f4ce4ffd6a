"""The sustained figures in interleaved rounds: the bare workflow, the floor and Riposte, back to back.

A figure taken minutes from its baseline drifts: the dev server slows as it fills, the machine's
speed moves by ±15% within minutes, and the simulators' state grows across the run (the floor's
CPU per run moved from 123 to 80 ms between two runs). So each round takes all four, one after
the other, in an order that rotates from round to round, on simulators started afresh for the
round (bench/sims.py); the ratios are taken within a round and reported as the median over the
rounds with their range.

Each of the four is saturated the same way: 32 concurrent loops, each starting one item and
waiting until it is done, for a fixed time; the rate is the items done over the time until the
last one in flight is done, and the CPU per item is each process's CPU over that time divided
by the items.

- bare: `BenchThreeActivities`, three no-op activities (bench/baseline.py);
- floor: `BenchFloor`, the alert's own Akku and Slack calls in three activities (bench/floor.py);
- skeleton: the same alert's Akku and Slack calls in the commands Riposte's invariants require
  (an alert run, a run per person, a permit from a governor, local activities, one upsert, the
  quiet-period timer), started directly, done when both writes are applied (bench/skeleton.py);
- riposte: an MFA-fatigue alert about one fresh person POSTed to the gateway, done when both of
  the playbook's writes (MFA reset, password reset) are applied in Akku.

Riposte over the skeleton is its own code (and the gateway's HTTP hop); the skeleton over the
floor is what Temporal charges for the invariants' commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from temporalio.client import Client

from bench import baseline, floor, skeleton
from bench.sims import Simulators, applied_writes
from bench.stats import Spread
from cli import driver
from cli.stack import Stack

KINDS = ("bare", "floor", "skeleton", "riposte")
PER_SECOND = 30  # fresh people made ready per second of a Riposte round: more than it decides


@dataclass
class Round:
    order: tuple[str, ...]
    rate: dict[str, float] = field(default_factory=dict)  # items per second
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # ms of CPU per item, by process


def riposte_people(seconds: float) -> int:
    return int(seconds * PER_SECOND) + 3


async def riposte_saturated(
    stack: Stack, seconds: float, actor_ids: list[str], concurrency: int = 32, pids: dict[str, int] | None = None
) -> tuple[float, dict[str, float]]:
    """MFA-fatigue alerts, each about one of `actor_ids` (`riposte_people(seconds)` people no
    investigation has seen), from `concurrency` loops that each wait until their alert is acted
    on: alerts per second and CPU per alert by process."""
    limits = httpx.Limits(max_connections=2 * concurrency + 8, max_keepalive_connections=2 * concurrency + 8)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        pool = [await driver.load_scenario(http, stack, "mfa_fatigue", actor_ids=[a]) for a in actor_ids]

        async def one(facts: dict[str, Any]) -> None:
            facts["source_ips"] = []  # one person per alert: no neighbours pulled in by IP
            answer = await driver.deliver(http, stack, "generic", facts)
            assert answer.status_code == 202, answer.text
            await applied_writes(http, stack, facts["actor_ids"][0], len(floor.ACTIONS))

        return await baseline.saturate_pool(one, pool, seconds, concurrency, pids)  # 3 warm-up alerts first


def per_round(seconds: float) -> int:
    """The people one round takes: the floor's, the skeleton's, then Riposte's."""
    return floor.people(seconds) + 2 * riposte_people(seconds)


async def rounds(
    client: Client,
    stack: Stack,
    sims: Simulators,
    queues: tuple[str, str, str],
    *,
    count: int,
    seconds: float,
    first: int,
    console: Console,
) -> list[Round]:
    """`count` rounds of the four, rotating their order, each on fresh simulators. `queues`: the
    bare workflow's, the floor's and the skeleton's task queues (their workers run meanwhile).

    A fresh simulator hands out the same people again, but Riposte's investigations of the
    earlier rounds are still open (an hour's quiet period) and would not act twice; so every
    round takes people of its own by id: accounts u_{10000 + first + 1} onwards, `per_round`
    of them a round, and the simulators hold `first + count * per_round` accounts."""
    bare_queue, floor_queue, skeleton_queue = queues
    size = per_round(seconds)
    staff = first + count * size
    results = []
    for k in range(count):
        ids = [f"u_{10001 + first + k * size + n}" for n in range(size)]
        first_skeleton = floor.people(seconds)
        first_riposte = first_skeleton + riposte_people(seconds)
        floor_ids, skeleton_ids = ids[:first_skeleton], ids[first_skeleton:first_riposte]
        riposte_ids = ids[first_riposte:]
        measure: dict[str, Callable[[dict[str, int]], Awaitable[tuple[float, dict[str, float]]]]] = {
            "bare": lambda pids: baseline.saturated(client, bare_queue, seconds, pids),
            "floor": lambda pids, ids=floor_ids: floor.saturated(  # type: ignore[misc]
                client, stack, floor_queue, seconds, pids=pids, actor_ids=ids
            ),
            "skeleton": lambda pids, ids=skeleton_ids: skeleton.saturated(  # type: ignore[misc]
                client, stack, skeleton_queue, seconds, ids, pids=pids
            ),
            "riposte": lambda pids, ids=riposte_ids: riposte_saturated(  # type: ignore[misc]
                stack, seconds, ids, pids=pids
            ),
        }
        order = KINDS[k % len(KINDS) :] + KINDS[: k % len(KINDS)]
        await sims.restart(staff)
        result = Round(order)
        for kind in order:
            result.rate[kind], result.cpu[kind] = await measure[kind]({"simulators": sims.pid})
            await asyncio.sleep(2)  # the notices after the last actions, before the next figure
        console.print(
            f"  round {k + 1}/{count} ({', '.join(order)}): "
            + ", ".join(f"{kind} {result.rate[kind]:.1f}/s {sum(result.cpu[kind].values()):.0f} ms" for kind in KINDS)
        )
        results.append(result)
    return results


@dataclass
class Summary:
    """The rounds' medians and ranges."""

    rate: dict[str, Spread]
    cpu: dict[str, Spread]  # total ms per item
    cpu_by_process: dict[str, dict[str, Spread]]
    ratios: dict[str, Spread]


def summarise(results: list[Round]) -> Summary:
    def ratio(top: Callable[[Round], float], bottom: Callable[[Round], float]) -> Spread:
        return Spread([top(r) / bottom(r) for r in results if bottom(r)])

    processes = sorted({p for r in results for cpu in r.cpu.values() for p in cpu})
    return Summary(
        rate={kind: Spread([r.rate[kind] for r in results]) for kind in KINDS},
        cpu={kind: Spread([sum(r.cpu[kind].values()) for r in results]) for kind in KINDS},
        cpu_by_process={
            kind: {p: Spread([r.cpu[kind].get(p, 0.0) for r in results]) for p in processes} for kind in KINDS
        },
        ratios={
            "riposte/bare": ratio(lambda r: r.rate["riposte"], lambda r: r.rate["bare"]),
            "floor/bare": ratio(lambda r: r.rate["floor"], lambda r: r.rate["bare"]),
            "riposte CPU/floor CPU": ratio(
                lambda r: sum(r.cpu["riposte"].values()), lambda r: sum(r.cpu["floor"].values())
            ),
            "floor CPU/bare CPU": ratio(lambda r: sum(r.cpu["floor"].values()), lambda r: sum(r.cpu["bare"].values())),
            "skeleton/bare": ratio(lambda r: r.rate["skeleton"], lambda r: r.rate["bare"]),
            "skeleton CPU/floor CPU": ratio(
                lambda r: sum(r.cpu["skeleton"].values()), lambda r: sum(r.cpu["floor"].values())
            ),
            "riposte CPU/skeleton CPU": ratio(
                lambda r: sum(r.cpu["riposte"].values()), lambda r: sum(r.cpu["skeleton"].values())
            ),
        },
    )


def describe_cpu(summary: Summary, kind: str) -> str:
    """'168 ms (python 86 + server 82 + simulators 9)', medians over the rounds."""
    parts = " + ".join(f"{p} {s.median:.0f}" for p, s in summary.cpu_by_process[kind].items())
    return f"{summary.cpu[kind].show('.0f', ' ms')} ({parts})"
