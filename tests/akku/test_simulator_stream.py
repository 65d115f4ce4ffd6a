"""The simulator's event stream pushes each event as it is written, in write order, from `since` on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from clients.akku import adapter as api
from clients.akku.client import AkkuClient
from clients.akku.models import AuthEvent
from simulators.akku.server import SimulatorConfig, create_app
from tests.akku.streaming import END, KEY, sim, streaming, write
from tests.support.servers import running_app


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with running_app(create_app(SimulatorConfig(api_key=KEY, seed=4))) as base:  # heartbeats every 15 s
        yield base


def at(moment: datetime) -> str:
    return api.timestamp(moment)


async def test_a_new_event_reaches_an_open_stream_in_well_under_a_second(url: str) -> None:
    async with streaming(url, datetime.now(UTC)) as stream:
        await asyncio.sleep(0.2)  # connected and idle: the next heartbeat is 15 s away
        for n in range(3):
            started = time.monotonic()
            (event_id,) = await write(url, {"event_type": "mfa.failure", "actor_id": "u_10001", "mfa_method": "push"})
            event = await stream.event(timeout=1.0)
            latency = time.monotonic() - started
            assert event["event_id"] == event_id and event["actor_id"] == "u_10001", n
            assert latency < 1.0, latency


async def test_scenario_events_are_pushed_as_they_are_loaded(url: str) -> None:
    async with streaming(url, datetime.now(UTC) - timedelta(minutes=30), ("mfa.challenge_issued",)) as stream:
        await asyncio.sleep(0.2)
        started = time.monotonic()
        facts = await sim(url, "POST", "/_sim/scenarios/mfa_fatigue")
        pushes = [await stream.event(timeout=1.0) for _ in range(9)]
    assert time.monotonic() - started < 2.0
    assert {e["actor_id"] for e in pushes} == set(facts["actor_ids"])
    assert {e["event_type"] for e in pushes} == {"mfa.challenge_issued"}


async def test_write_order_from_since_including_late_events_but_nothing_before_since(url: str) -> None:
    since = datetime.now(UTC) + timedelta(hours=1)  # nothing in the log yet: no backlog
    async with streaming(url, since) as stream:
        await asyncio.sleep(0.2)
        later, earlier, before, sentinel = await write(
            url,
            {"event_type": "login.failure", "actor_id": "u_10002", "timestamp": at(since + timedelta(seconds=10))},
            {"event_type": "login.failure", "actor_id": "u_10003", "timestamp": at(since + timedelta(seconds=5))},
            {"event_type": "login.failure", "actor_id": "u_10004", "timestamp": at(since - timedelta(seconds=1))},
            {"event_type": "login.failure", "actor_id": "u_10005", "timestamp": at(since)},
        )
        received = [(await stream.event(timeout=1.0))["event_id"] for _ in range(3)]
    assert received == [later, earlier, sentinel]  # as written; the event before `since` is not sent
    assert before not in received
    for _ in range(50):  # the consumer hung up: its subscription goes with it
        if not (await sim(url, "GET", "/_sim/streams"))["streams"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the closed stream is still subscribed")
    (read,) = (await sim(url, "GET", "/_sim/reads", limit=1))["reads"]
    assert read["ended"] == "client_gone" and read["event_ids"] == received


async def test_the_backlog_comes_first_then_pushes_filtered_by_event_type(url: str) -> None:
    since = datetime.now(UTC) + timedelta(hours=2)
    (old,) = await write(url, {"event_type": "account.locked", "actor_id": "u_10006", "timestamp": at(since)})
    async with streaming(url, since, ("account.locked",)) as stream:
        assert (await stream.event(timeout=1.0))["event_id"] == old
        _, wanted = await write(
            url,
            {"event_type": "login.success", "actor_id": "u_10006", "timestamp": at(since)},
            {"event_type": "account.locked", "actor_id": "u_10007", "timestamp": at(since)},
        )
        assert (await stream.event(timeout=1.0))["event_id"] == wanted


async def test_heartbeats_every_interval_when_idle() -> None:
    async with (
        running_app(create_app(SimulatorConfig(api_key=KEY, seed=4, heartbeat_seconds=0.3))) as url,
        streaming(url, datetime.now(UTC)) as stream,
    ):
        started = time.monotonic()
        beats = [json.loads(str(await stream.line(timeout=2.0))) for _ in range(3)]
        elapsed = time.monotonic() - started
    assert all(set(b) == {api.HEARTBEAT} for b in beats)
    assert all(datetime.fromisoformat(b[api.HEARTBEAT]).tzinfo is not None for b in beats)
    assert 0.8 <= elapsed < 2.0, elapsed


async def test_the_client_reads_pushed_events(url: str) -> None:
    async with AkkuClient(f"{url}/api", KEY) as akku:
        since = datetime.now(UTC)
        reader = akku.stream_events(since, ["recovery.attempted"])

        async def first() -> AuthEvent:
            return await anext(reader)

        waiting = asyncio.create_task(first())
        await asyncio.sleep(0.3)
        (event_id,) = await write(
            url, {"event_type": "recovery.attempted", "actor_id": "u_10008", "recovery_method": "sms_otp"}
        )
        event = await asyncio.wait_for(waiting, 1.0)
    assert event.event_id == event_id and event.recovery_method == "sms_otp"


async def test_the_control_route_ends_every_open_stream(url: str) -> None:
    async with streaming(url, datetime.now(UTC)) as one, streaming(url, datetime.now(UTC), ("mfa.failure",)) as two:
        await asyncio.sleep(0.2)
        listed = (await sim(url, "GET", "/_sim/streams"))["streams"]
        assert sorted(s["event_types"] for s in listed) == [[], ["mfa.failure"]]
        assert await sim(url, "DELETE", "/_sim/streams") == {"closed": 2}
        assert await one.rest(timeout=1.0) == [END] and await two.rest(timeout=1.0) == [END]
    assert (await sim(url, "GET", "/_sim/streams"))["streams"] == []
    reads = (await sim(url, "GET", "/_sim/reads", limit=2))["reads"]
    assert [r["ended"] for r in reads] == ["closed_by_control", "closed_by_control"]
