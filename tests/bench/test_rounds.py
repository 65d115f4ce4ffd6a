"""The interleaved rounds and the per-alert accounting, on a real dev server and stack."""

from __future__ import annotations

import httpx
from rich.console import Console
from temporalio.client import Client

from bench import accounting, baseline, floor, interleaved, skeleton
from bench.__main__ import bench_config
from bench.sims import simulators
from cli import driver
from cli.rig import running_stack

STAFF = 600


async def test_a_round_takes_all_four_on_fresh_simulators(client: Client, task_queue: str) -> None:
    playbooks, _ = bench_config()  # the automatic-action limit lifted, as in the bench
    bare, floor_queue, skeleton_queue = f"{task_queue}-bare", f"{task_queue}-floor", f"{task_queue}-skeleton"
    async with (
        running_stack(client, task_queue, akku_staff=STAFF, riposte_playbooks_dir=playbooks) as stack,
        simulators(stack, STAFF) as sims,
        baseline.worker(client, bare),
        floor.worker(client, stack, floor_queue),
        skeleton.worker(client, stack, skeleton_queue),
        httpx.AsyncClient(timeout=30) as http,
    ):
        results = await interleaved.rounds(
            client,
            stack,
            sims,
            (bare, floor_queue, skeleton_queue),
            count=2,
            seconds=1.5,
            first=STAFF,
            console=Console(quiet=True),
        )
        log = f"{driver.simulator_root(stack.akku_url)}/_sim/writes"
        writes = (await http.get(log)).json()["writes"]
        assert writes, "the last round wrote to Akku"
        band = {f"u_{10001 + STAFF + n}" for n in range(2 * interleaved.per_round(1.5))}
        assert {w["actor_id"] for w in writes} <= band  # the rounds' own people, never the others'
        await sims.restart(STAFF)
        assert (await http.get(log)).json()["writes"] == [], "a restart starts from an empty write log"

    assert [r.order for r in results] == [
        ("bare", "floor", "skeleton", "riposte"),
        ("floor", "skeleton", "riposte", "bare"),
    ]
    for r in results:
        assert all(r.rate[kind] > 0 for kind in interleaved.KINDS), r.rate
        assert all(r.cpu[kind]["simulators"] > 0 for kind in ("floor", "skeleton", "riposte"))  # measured apart
    summary = interleaved.summarise(results)
    assert len(summary.ratios["riposte/bare"].values) == 2
    assert len(summary.ratios["riposte CPU/skeleton CPU"].values) == 2
    assert "simulators" in interleaved.describe_cpu(summary, "riposte")


async def test_one_alert_is_counted_over_every_workflow_it_causes(client: Client, task_queue: str) -> None:
    playbooks, _ = bench_config()
    accounting.quick_close(playbooks)  # investigations close after 3 s: their whole life is counted
    async with running_stack(client, task_queue, riposte_playbooks_dir=playbooks) as stack:
        result = await accounting.alert(stack, "one", "mfa_fatigue", ["u_10007"], "alert", 1)

    assert result.still_open == 0
    alert, investigation = result.by_type["AlertWorkflow"], result.by_type["InvestigationWorkflow"]
    governor = result.by_type["ActionGovernor (its share)"]
    assert (alert.runs, investigation.runs) == (1, 1)
    assert investigation.signal_with_starts == 1  # opened by the alert run's signal-with-start
    assert investigation.timers >= 1  # the quiet period that closed it
    assert governor.updates >= 1  # the permit for the automatic action
    assert result.each.actions == alert.actions + investigation.actions + governor.actions
    assert result.each.actions > 6  # more than the bare workflow's start and three activities


async def test_the_skeleton_issues_the_commands_its_invariants_name(client: Client, task_queue: str) -> None:
    """bench/skeleton.py says what it issues for one alert; its histories are held to it."""
    queue = f"{task_queue}-skeleton"
    async with (
        running_stack(client, task_queue, akku_staff=50) as stack,
        skeleton.worker(client, stack, queue),
        httpx.AsyncClient(timeout=30) as http,
    ):
        actor = (await driver.load_scenario(http, stack, "mfa_fatigue"))["actor_ids"][0]
        counted = await skeleton.one_alert(client, queue, actor, quiet=1.0)
        writes = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()["writes"]

    mine = [w for w in writes if w["actor_id"] == actor]
    assert len(mine) == len(floor.ACTIONS) and all(w["status"] == "applied" for w in mine), mine
    alert, person = counted["BenchSkeletonAlert"], counted["BenchSkeletonPerson"]
    governor = counted["BenchSkeletonGovernor (its share)"]
    assert (alert.starts, alert.workflow_tasks, alert.local_activities, alert.activities) == (1, 1, 1, 0)
    assert (person.signal_with_starts, person.local_activities, person.upserts, person.timers) == (1, 5, 1, 1)
    assert person.activities == 0 and person.patch_markers == 0
    assert (governor.updates, governor.starts) == (1, 0)
    total = alert + person + governor
    # billed: two starts (the alert run, the person's signal-with-start), the permit's update, the
    # quiet-period timer, the upsert, and one per workflow task that ran local activities (two)
    assert total.actions == 2 + 1 + 1 + 1 + 2
