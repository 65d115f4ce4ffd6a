"""Stream faults, set at start or at run time through /_sim/faults, behave as docs/akku.md says."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from clients.akku import adapter as api
from clients.akku.client import AkkuClient
from clients.akku.errors import AkkuProtocolError, AkkuServerError
from simulators.akku.server import SimulatorConfig, create_app
from tests.akku.streaming import AUTH, END, KEY, sim, streaming, write
from tests.support.servers import running_app

SINCE = datetime.now(UTC) + timedelta(days=1)  # the tests' own events, after the tenant's history


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with running_app(create_app(SimulatorConfig(api_key=KEY, seed=6, heartbeat_seconds=0.2))) as base:
        yield base


async def five_events(url: str) -> list[str]:
    return await write(
        url,
        *(
            {"event_type": "login.failure", "actor_id": f"u_1001{n}", "timestamp": api.timestamp(SINCE)}
            for n in range(5)
        ),
    )


async def faults(url: str, *rules: dict[str, Any]) -> None:
    await sim(url, "POST", "/_sim/faults", {"stream": list(rules), "seed": 1})


def ids(lines: list[str | Exception]) -> list[str]:
    return [json.loads(x)["event_id"] for x in lines if isinstance(x, str) and x != END and "event_id" in x]


async def test_disconnect_after_n_lines_ends_the_stream_and_a_reconnect_resumes(url: str) -> None:
    written = await five_events(url)
    await faults(url, {"kind": "disconnect", "after_lines": 3, "times": 1})
    async with streaming(url, SINCE) as stream:
        first = await stream.rest()
    assert ids(first) == written[:3] and first[-1] == END  # exactly three lines, then the server ends it
    async with streaming(url, SINCE) as stream:  # spent (times: 1): the next connection runs on
        again = [(await stream.event())["event_id"] for _ in range(5)]
    assert again == written


async def test_an_abrupt_disconnect_breaks_the_connection(url: str) -> None:
    written = await five_events(url)
    await faults(url, {"kind": "disconnect", "after_lines": 2, "abrupt": True})
    async with streaming(url, SINCE) as stream:
        lines = await stream.rest()
    assert ids(lines) == written[:2]
    assert isinstance(lines[-1], httpx.RemoteProtocolError)  # not a clean end: the body was cut off


async def test_random_disconnects_strike_at_the_given_rate(url: str) -> None:
    await five_events(url)
    await faults(url, {"kind": "disconnect", "rate": 1.0})
    async with streaming(url, SINCE) as stream:
        assert await stream.rest() == [END]


async def test_5xx_on_connect_from_the_start_then_spent() -> None:
    config = SimulatorConfig(
        api_key=KEY, seed=6, faults={"stream": [{"kind": "5xx", "status": 502, "rate": 1, "times": 2}]}
    )
    async with running_app(create_app(config)) as url, httpx.AsyncClient() as http:
        path = f"{url}/api{api.AUTH_EVENTS_STREAM}"
        refused = [await http.get(path, params={"since": api.timestamp(SINCE)}, headers=AUTH) for _ in range(2)]
        assert [r.status_code for r in refused] == [502, 502]
        assert refused[0].json()["error"]["code"] == "bad_gateway"
        async with AkkuClient(f"{url}/api", KEY) as akku:
            await sim(url, "POST", "/_sim/faults", {"stream": [{"kind": "5xx", "rate": 1}]})
            with pytest.raises(AkkuServerError) as caught:
                await anext(akku.stream_events(SINCE))
        assert caught.value.status == 503
        await sim(url, "DELETE", "/_sim/faults")
        async with streaming(url, SINCE) as stream:
            assert stream.response.status_code == 200


@pytest.mark.parametrize("shape", ["malformed", "not_event"])
async def test_a_bad_line_set_at_run_time_and_the_events_still_follow(url: str, shape: str) -> None:
    written = await five_events(url)
    async with streaming(url, SINCE) as stream:
        assert [(await stream.event())["event_id"] for _ in range(5)] == written
        await faults(url, {"kind": "bad_line", "shape": shape, "rate": 1.0, "times": 1})
        (later,) = await write(
            url, {"event_type": "login.failure", "actor_id": "u_10020", "timestamp": api.timestamp(SINCE)}
        )
        bad = str(await stream.line())
        after = await stream.event()  # heartbeats may come between
    if shape == "malformed":
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad)
    else:
        data = json.loads(bad)
        assert "event_id" not in data and api.HEARTBEAT not in data and data["event_type"]
    assert after["event_id"] == later  # nothing lost behind the bad line


async def test_the_client_reports_a_bad_line_as_a_protocol_error(url: str) -> None:
    await five_events(url)
    await faults(url, {"kind": "bad_line", "shape": "not_event", "after_lines": 0})
    async with AkkuClient(f"{url}/api", KEY) as akku:
        with pytest.raises(AkkuProtocolError):
            await anext(akku.stream_events(SINCE))


async def test_a_stall_sends_nothing_not_even_heartbeats_then_delivers_what_was_written(url: str) -> None:
    async with streaming(url, SINCE) as stream:
        assert api.HEARTBEAT in str(await stream.line(timeout=1.0))  # heartbeats every 0.2 s
        await faults(url, {"kind": "stall", "seconds": 1.2, "rate": 1.0, "times": 1})
        started = time.monotonic()
        await asyncio.sleep(0.3)
        (during,) = await write(
            url, {"event_type": "mfa.failure", "actor_id": "u_10030", "timestamp": api.timestamp(SINCE)}
        )
        first = str(await stream.line(timeout=3.0))
        gap = time.monotonic() - started
        arrived = first if "event_id" in first else str(await stream.line(timeout=1.0))
    assert gap >= 1.0, gap  # nothing at all (the first line may have been just before the fault was set)
    assert json.loads(arrived)["event_id"] == during


async def test_clearing_faults_ends_a_stall(url: str) -> None:
    async with streaming(url, SINCE) as stream:
        await faults(url, {"kind": "stall", "seconds": 60, "after_lines": 0})
        await asyncio.sleep(0.5)
        assert stream.queue.empty()
        await sim(url, "DELETE", "/_sim/faults")
        assert api.HEARTBEAT in str(await stream.line(timeout=1.0))


@pytest.mark.parametrize(
    "body",
    [
        {"stream": [{"kind": "explode", "rate": 1}]},
        {"stream": [{"kind": "disconnect"}]},  # neither after_lines nor a rate: would never strike
        {"stream": [{"kind": "5xx", "after_lines": 3}]},
        {"stream": [{"kind": "stall", "rate": 1, "seconds": 0}]},
        {"rate": 0.5, "kinds": ["418"]},
    ],
)
async def test_bad_fault_settings_are_refused_and_change_nothing(url: str, body: dict[str, Any]) -> None:
    await faults(url, {"kind": "disconnect", "after_lines": 9})
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{url}/_sim/faults", json=body)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"
    assert (await sim(url, "GET", "/_sim/faults"))["faults"]["stream"][0]["after_lines"] == 9
