"""Record workflow histories from real runs into tests/histories/ (`make histories`).

Runs the embedded stack against a throwaway Temporal dev server, plays scenarios through
the real gateway, lets each investigation reach its decision (an automatic action, and
an approval clicked in the Slack simulator), then exports every workflow's history. The
replay test (tests/test_histories.py) replays them against the code of every later
commit. Existing files are never overwritten: a workflow change must keep replaying the
histories of runs started before it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from cli.devserver import find_binary
from cli.driver import fire_scenario, settle
from cli.rig import running_stack
from riposte import search_attributes
from riposte.temporal import data_converter

OUT = Path(__file__).parent
SCENARIOS = ("mfa_fatigue", "admin_elevation")


async def record(tag: str) -> list[Path]:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(find_binary("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    written: list[Path] = []
    try:
        client = env.client
        async with running_stack(client, "riposte-histories") as stack:
            ids: list[str] = []
            for scenario in SCENARIOS:
                fired = await fire_scenario(stack, scenario)
                ids.append(fired.alert_workflow_id)
                for investigation in await settle(stack, fired, approve=True):
                    ids.append(investigation)
            ids.append(f"riposte-action-governor/{stack.settings.temporal_task_queue}")
            for workflow_id in ids:
                history = await client.get_workflow_handle(workflow_id).fetch_history()
                kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
                path = OUT / f"{tag}-{kind}-{len(written)}.json"
                if path.exists():
                    raise SystemExit(f"{path} exists: choose another tag")
                path.write_text(history.to_json())
                written.append(path)
    finally:
        await env.shutdown()
    return written


async def record_detector(tag: str) -> list[Path]:
    """A DetectorWorkflow run that fires a rule, calls its activity twice and continues as new
    (`python -m tests.histories.record TAG --detector`)."""
    from datetime import UTC, datetime, timedelta

    import httpx
    from temporalio.client import WorkflowExecutionStatus

    from cli.driver import simulator_root
    from clients.akku.adapter import timestamp
    from detect.models import DetectorInput

    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(find_binary("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    try:
        client = env.client
        queue = "riposte-histories-detector"
        async with (
            running_stack(client, queue, riposte_detect="poll", riposte_detect_poll_seconds=0.5) as stack,
            httpx.AsyncClient(timeout=30) as http,
        ):
            now = datetime.now(UTC)
            pushes = [
                {
                    "event_type": "mfa.challenge_issued",
                    "actor_id": "u_10011",
                    "mfa_method": "push",
                    "timestamp": timestamp(now - timedelta(seconds=30 - i)),
                }
                for i in range(6)
            ]
            answer = await http.post(f"{simulator_root(stack.akku_url)}/_sim/events", json={"events": pushes})
            answer.raise_for_status()
            handle = await client.start_workflow(
                "DetectorWorkflow",
                DetectorInput(run_for_seconds=3, runs_per_history=2),
                id="riposte-detector-history",
                task_queue=queue,
            )
            first = handle.first_execution_run_id or handle.result_run_id
            for _ in range(200):
                described = await client.get_workflow_handle(handle.id, run_id=first).describe()
                if described.status is not WorkflowExecutionStatus.RUNNING:
                    break
                await asyncio.sleep(0.1)
            history = await client.get_workflow_handle(handle.id, run_id=first).fetch_history()
            path = OUT / f"{tag}-DetectorWorkflow-0.json"
            if path.exists():
                raise SystemExit(f"{path} exists: choose another tag")
            path.write_text(history.to_json())
            return [path]
    finally:
        await env.shutdown()


async def record_digest(tag: str) -> list[Path]:
    """A DigestWorkflow that opened on a wave of six requests and decided them with Approve all, and
    one of its investigations (`python -m tests.histories.record TAG --digest`)."""
    import tempfile

    import httpx

    from cli import driver
    from cli.rig import playbooks_with
    from tests.digest.support import approval_messages, click_digest, digest_ids, digests, until_stages

    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(find_binary("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    written: list[Path] = []
    try:
        client = env.client
        queue = "riposte-histories-digest"
        with tempfile.TemporaryDirectory() as tmp:
            folder = playbooks_with(
                Path(tmp),
                "credential-stuffing",
                "{min_score: 70, response: act, actions: [lock, revoke_sessions]}",
                "{min_score: 100, response: act, actions: [lock, revoke_sessions]}",
            )
            async with (
                running_stack(client, queue, riposte_playbooks_dir=folder) as stack,
                httpx.AsyncClient(timeout=30) as http,
            ):
                facts = await driver.load_scenario(http, stack, "credential_stuffing", count=6)
                (await driver.deliver(http, stack, "generic", facts)).raise_for_status()
                await until_stages(client, queue, {"waiting_for_approval": 6}, timeout=120)
                for _ in range(100):
                    found = digests(await approval_messages(http, stack))
                    if found and "6 people" in found[0]["text"]:
                        break
                    await asyncio.sleep(0.2)
                (await click_digest(http, stack, found[0], "approve", "U0ANALYST")).raise_for_status()
                approved = await until_stages(client, queue, {"approved": 6}, timeout=120)
                await asyncio.sleep(4)  # the digest reports the outcome
                (digest,) = await digest_ids(client, queue)
                ids = [digest, sorted(approved)[-1]]
                for workflow_id in ids:
                    history = await client.get_workflow_handle(workflow_id).fetch_history()
                    kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
                    path = OUT / f"{tag}-{kind}-{len(written)}.json"
                    if path.exists():
                        raise SystemExit(f"{path} exists: choose another tag")
                    path.write_text(history.to_json())
                    written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "--digest":
        for path in asyncio.run(record_digest(sys.argv[1])):
            sys.stdout.write(f"wrote {path}\n")
        raise SystemExit(0)
    if len(sys.argv) > 2 and sys.argv[2] == "--detector":
        for path in asyncio.run(record_detector(sys.argv[1])):
            sys.stdout.write(f"wrote {path}\n")
        raise SystemExit(0)
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m tests.histories.record TAG   (e.g. v1, or the change's patch id)")
    for path in asyncio.run(record(sys.argv[1])):
        sys.stdout.write(f"wrote {path}\n")
