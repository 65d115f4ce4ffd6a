"""Background traffic runs at about the asked rate, stays benign, stops; retention holds the cap."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from clients.akku.client import AkkuClient
from simulators.akku.server import SimulatorConfig, create_app
from tests.akku.streaming import KEY, sim, streaming
from tests.support.servers import running_app


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with running_app(create_app(SimulatorConfig(api_key=KEY, seed=9))) as base:
        yield base


async def finished(url: str, seconds: float) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        report: dict[str, Any] = await sim(url, "GET", "/_sim/traffic")
        if not report["running"] or asyncio.get_running_loop().time() > deadline:
            return report
        await asyncio.sleep(0.1)


async def test_traffic_runs_at_about_the_asked_rate_then_finishes(url: str) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with streaming(url, since) as stream:
        started = await sim(url, "POST", "/_sim/traffic", {"events_per_second": 2000, "seconds": 2, "actors": 300})
        assert started["running"] and started["asked"]["actors"] == 300
        await asyncio.sleep(1.0)
        midway = await sim(url, "GET", "/_sim/traffic")
        report = await finished(url, 5)
        pushed = [await stream.event(timeout=2.0) for _ in range(100)]  # the stream carries it too
    assert 1200 <= midway["events_written"] <= 2800, midway  # about 2,000 a second, a second in
    assert report["outcome"] == "finished" and not report["running"]
    assert 3800 <= report["events_written"] <= 4200, report
    assert 1500 <= report["events_per_second"] <= 2300, report
    assert {e["actor_id"] for e in pushed} <= {f"u_{300001 + n}" for n in range(300)}
    async with AkkuClient(f"{url}/api", KEY) as akku:
        events = [e async for e in akku.iter_events(since, limit=1000)]
    assert len(events) == report["events_written"]
    # benign: known devices, good addresses, one person an address; only a few MFA failures
    assert all(
        e.risk_context and e.risk_context.device_known and e.risk_context.ip_reputation == "good" for e in events
    )
    people_by_ip: dict[str | None, set[str]] = defaultdict(set)
    for e in events:
        people_by_ip[e.source_ip].add(e.actor_id)
    assert max(len(people) for people in people_by_ip.values()) == 1
    failures = [e for e in events if e.event_type == "mfa.failure"]
    assert 0 < len(failures) < len(events) / 50
    assert {e.event_type for e in events} == {"mfa.challenge_issued", "mfa.success", "mfa.failure", "login.success"}


async def test_traffic_stops_on_delete_and_refuses_a_second_run_or_bad_input(url: str) -> None:
    await sim(url, "POST", "/_sim/traffic", {"events_per_second": 1000, "seconds": 60, "actors": 100})
    async with httpx.AsyncClient() as http:
        again = await http.post(f"{url}/_sim/traffic", json={"events_per_second": 10, "seconds": 1})
        bad = await http.post(f"{url}/_sim/traffic", json={"events_per_second": 0, "seconds": 1})
    assert again.status_code == 409 and again.json()["error"]["code"] == "traffic_running"
    assert bad.status_code == 422
    await asyncio.sleep(0.5)
    stopped = await sim(url, "DELETE", "/_sim/traffic")
    assert not stopped["running"] and stopped["outcome"] == "stopped" and stopped["events_written"] > 0
    await asyncio.sleep(0.3)
    assert (await sim(url, "GET", "/_sim/traffic"))["events_written"] == stopped["events_written"]


async def test_retention_keeps_the_newest_events_under_the_cap() -> None:
    config = SimulatorConfig(api_key=KEY, seed=9, max_events=1500)
    async with running_app(create_app(config)) as url, AkkuClient(f"{url}/api", KEY) as akku:
        first = (await sim(url, "GET", "/_sim/reads"))["events_retained"]
        await sim(url, "POST", "/_sim/traffic", {"events_per_second": 3000, "seconds": 1.5, "actors": 20})
        report = await finished(url, 5)
        state = await sim(url, "GET", "/_sim/reads")
        since = datetime.now(UTC) - timedelta(days=2)
        everything = [e async for e in akku.iter_events(since, limit=1000)]
        one = [e async for e in akku.iter_events(since, actor_ids=["u_300001"], limit=1000)]
    assert first < 1500 and report["events_written"] >= 4000
    assert state["events_retained"] == 1500 == len(everything)
    assert state["events_trimmed"] == first + report["events_written"] - 1500
    assert all(e.actor_id.startswith("u_3") for e in everything)  # the oldest (the tenant's history) went first
    assert one and {e.event_id for e in one} <= {e.event_id for e in everything}  # the actor index is trimmed too
