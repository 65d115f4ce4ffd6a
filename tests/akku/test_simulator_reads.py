"""The reads log: which event ids each stream connection and poll page returned, and which none did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from clients.akku import adapter as api
from simulators.akku.reads import ReadsLog
from simulators.akku.server import SimulatorConfig, create_app
from tests.akku.streaming import AUTH, KEY, sim, streaming, write
from tests.support.servers import running_app

SINCE = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with running_app(create_app(SimulatorConfig(api_key=KEY, seed=8))) as base:
        yield base


def event(actor: str) -> dict[str, str]:
    return {"event_type": "login.failure", "actor_id": actor, "timestamp": api.timestamp(SINCE)}


async def poll(url: str, limit: int, cursor: str | None = None) -> dict[str, object]:
    params = {"since": api.timestamp(SINCE), "limit": str(limit), **({"cursor": cursor} if cursor else {})}
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{url}/api{api.AUTH_EVENTS}", params=params, headers=AUTH)
    answer.raise_for_status()
    page: dict[str, object] = answer.json()
    return page


async def test_a_poller_that_skips_a_page_is_caught(url: str) -> None:
    before = (await sim(url, "GET", "/_sim/reads"))["written"]["last_event_id"]
    written = await write(url, *(event(f"u_1010{n}") for n in range(5)))
    first = await poll(url, 2)
    missing = await sim(url, "GET", "/_sim/reads/missing", since_event=written[0])
    assert missing == {"missing": written[2:], "count": 3}
    second = await poll(url, 2, str(first["next_cursor"]))
    assert second["next_cursor"]
    # the poller "crashes" and resumes past the last page: one event never read
    missing = await sim(url, "GET", "/_sim/reads/missing", since_event=written[0])
    assert missing == {"missing": [written[4]], "count": 1}
    await poll(url, 2, str(second["next_cursor"]))
    assert (await sim(url, "GET", "/_sim/reads/missing", since_event=written[0]))["count"] == 0
    # everything before the marker (the tenant's history) was never read by anyone
    assert (await sim(url, "GET", "/_sim/reads/missing"))["count"] > 1000 > 0 and before < written[0]
    reads = await sim(url, "GET", "/_sim/reads", limit=3)
    assert reads["counts"] == {"poll": 3} and reads["events_returned"] == 5
    assert [r["event_ids"] for r in reads["reads"]] == [written[:2], written[2:4], written[4:]]
    assert all(r["kind"] == "poll" and not r["open"] for r in reads["reads"])


async def test_a_stream_connection_is_one_read_growing_while_it_lasts(url: str) -> None:
    written = await write(url, event("u_10110"), event("u_10111"))
    async with streaming(url, SINCE) as stream:
        got = [(await stream.event())["event_id"] for _ in range(2)]
        (later,) = await write(url, event("u_10112"))
        got.append((await stream.event())["event_id"])
        (read,) = (await sim(url, "GET", "/_sim/reads", limit=1))["reads"]
        assert read["kind"] == "stream" and read["open"] and read["event_ids"] == [*written, later]
        assert read["params"]["since"] == api.timestamp(SINCE)
    assert got == [*written, later]
    assert (await sim(url, "GET", "/_sim/reads/missing", since_event=written[0]))["count"] == 0


async def test_a_stream_cut_off_by_a_disconnect_leaves_the_rest_missing(url: str) -> None:
    written = await write(url, *(event(f"u_1012{n}") for n in range(4)))
    await sim(url, "POST", "/_sim/faults", {"stream": [{"kind": "disconnect", "after_lines": 1}]})
    async with streaming(url, SINCE) as stream:
        await stream.rest()
    missing = await sim(url, "GET", "/_sim/reads/missing", since_event=written[0], limit=2)
    assert missing == {"missing": written[1:3], "count": 3}  # the first `limit`, and how many in all


async def test_a_bad_marker_is_a_clear_error(url: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{url}/_sim/reads/missing", params={"since_event": "not-an-id"})
    assert answer.status_code == 422 and "not an event id" in answer.json()["error"]["message"]


def test_the_summary_keeps_a_bounded_window_of_ids() -> None:
    reads = ReadsLog(keep=2, ids_per_read=3, window=64)
    ids = [f"evt_01{n:010d}" for n in range(1, 201)]
    for event_id in ids:
        reads.written(event_id)
    read = reads.open("poll", {})
    for event_id in ids[150:]:
        if event_id != ids[170]:
            reads.returned(read, event_id)
    assert reads.missing(ids[150], 10) == ([171], 1)
    assert read.entry["events"] == 49 and read.entry["event_ids"] == ids[150:153] and read.entry["ids_truncated"]
    with pytest.raises(ValueError, match="older than the reads window"):
        reads.missing(ids[0], 10)  # slid out: 64 ids (and a byte's slack) are kept
    assert len(reads._written) <= 64 // 8 + 65_536 + 1
    for _ in range(3):
        reads.open("stream", {})
    assert len(reads.reads) == 2 and reads.counts == {"poll": 1, "stream": 3}


async def test_paging_resumes_after_the_last_event_read_even_when_retention_trims_meanwhile() -> None:
    async with running_app(create_app(SimulatorConfig(api_key=KEY, seed=8, max_events=1500))) as url:
        stamps = [api.timestamp(SINCE + timedelta(milliseconds=n)) for n in range(1700)]
        written = await write(url, *({**event("u_10130"), "timestamp": t} for t in stamps[:1500]))
        first = await poll(url, 300)
        written += await write(url, *({**event("u_10131"), "timestamp": t} for t in stamps[1500:]))
        # the 200 oldest (all read already) are gone; the next page still starts at the 301st event
        second = await poll(url, 300, str(first["next_cursor"]))
        pages = [first, second]
        while pages[-1]["next_cursor"]:
            pages.append(await poll(url, 1000, str(pages[-1]["next_cursor"])))
        async with httpx.AsyncClient() as http:
            bad = await http.get(
                f"{url}/api{api.AUTH_EVENTS}", params={"since": stamps[0], "cursor": "c_nonsense"}, headers=AUTH
            )
        missing = await sim(url, "GET", "/_sim/reads/missing", since_event=written[0])
    read = [e["event_id"] for p in pages for e in p["events"]]  # type: ignore[attr-defined]
    assert read == written and missing["count"] == 0
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"
