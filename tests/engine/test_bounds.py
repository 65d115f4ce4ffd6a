"""Histories stay bounded: one alert naming thousands of people, enriched in batches of 100.

Evidence travels from the batch activity straight into each person's investigation, so the
alert run's history grows with the number of batches, not with the evidence.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from cli import driver
from cli.rig import running_stack

EVENTS_LIMIT = 10_000
BYTES_LIMIT = 10 * 1024 * 1024
PAYLOAD_LIMIT = 256 * 1024


async def alert_about(client: Client, task_queue: str, people: int) -> dict[str, Any]:
    async with running_stack(client, task_queue, akku_staff=people) as stack, httpx.AsyncClient(timeout=120) as http:
        facts = {
            "scenario": "storm",
            "rule_name": "Akku - MFA failure spike across accounts",
            "detection": "credential_stuffing",
            "severity": "high",
            "actor_ids": [f"u_{10001 + n}" for n in range(people)],
            "source_ips": [],
        }
        started = time.monotonic()
        answer = await driver.deliver(http, stack, "generic", facts, alert_id=f"bounds-{task_queue}")
        assert answer.status_code == 202, answer.text
        body = answer.json()
        workflow_ids = [r["workflow_id"] for r in body.get("runs") or [body]]
        outcomes = [await driver.alert_outcome(stack.client, w, timeout=600) for w in workflow_ids]
        elapsed = time.monotonic() - started
        histories = [await stack.client.get_workflow_handle(w).fetch_history() for w in workflow_ids]
        payloads = [
            p.ByteSize()
            for history in histories
            for e in history.events
            for attrs in (
                e.workflow_execution_started_event_attributes.input,
                e.activity_task_scheduled_event_attributes.input,
                e.activity_task_completed_event_attributes.result,
                e.workflow_execution_completed_event_attributes.result,
            )
            for p in attrs.payloads
        ]
        requests = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/requests?limit=100000")).json()[
            "requests"
        ]
        sample = await stack.client.get_workflow_handle(f"investigation-u_{10001 + people - 1}").fetch_history()
        return {
            "runs": len(workflow_ids),
            "resolved": sum(o.actors_resolved for o in outcomes),
            "batches": sum(o.enrichment_batches for o in outcomes),
            "events": max(len(h.events) for h in histories),
            "bytes": max(len(h.to_json()) for h in histories),
            "largest_payload": max(payloads),
            "enrichment_calls": sum(1 for r in requests if r["path"] == "/v1/auth-events/query"),
            "investigation_bytes": len(sample.to_json()),
            # a storm's batches stay activities (heartbeats, bounded concurrency), never local ones
            "dispatch_activities": sum(
                1
                for history in histories
                for e in history.events
                if e.activity_task_scheduled_event_attributes.activity_type.name
                == "Enrich actors in Akku and open investigations"
            ),
            "seconds": elapsed,
        }


async def check(client: Client, task_queue: str, people: int) -> None:
    found = await alert_about(client, task_queue, people)
    assert found["resolved"] == people and found["batches"] == people // 100
    assert found["dispatch_activities"] == found["batches"]
    assert found["runs"] == -(-people // 1000)  # the gateway fans out runs of at most 1,000 people
    assert found["enrichment_calls"] == people // 100  # <= 50 for 5,000 people
    assert found["events"] < EVENTS_LIMIT and found["bytes"] < BYTES_LIMIT
    assert found["largest_payload"] < PAYLOAD_LIMIT and found["investigation_bytes"] < PAYLOAD_LIMIT
    print(
        f"{people} people: {found['runs']} alert runs, largest {found['events']} events, {found['bytes'] / 1024:.0f} KB, largest payload "
        f"{found['largest_payload'] / 1024:.1f} KB, {found['enrichment_calls']} enrichment calls, "
        f"one investigation {found['investigation_bytes'] / 1024:.1f} KB, {found['seconds']:.1f} s to dispatch all"
    )


async def test_an_alert_about_500_people_stays_small(client: Client, task_queue: str) -> None:
    await check(client, task_queue, 500)


@pytest.mark.slow
@pytest.mark.timeout(600)  # the dispatch is paced by how fast investigations decide: about 3 minutes on 2 cores
async def test_an_alert_about_5000_people_stays_small(client: Client, task_queue: str) -> None:
    await check(client, task_queue, 5000)
