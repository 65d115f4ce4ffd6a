"""The event stream's lines: the backlog from `since`, then each event as it is written.

A connection takes a snapshot of the log from `since` and subscribes in the same step (no
await between), so no write falls between the two. New events arrive through the store's
write path (`Store.event` offers each to every subscriber), so a push costs O(new events);
they are sent in write order, including events timestamped earlier than ones already sent,
but never those before `since`. A heartbeat goes out after `heartbeat_seconds` without a
line. Stream faults (simulators/akku/faults.py) strike before each line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

from clients.akku import adapter as api
from simulators.akku.common import events_from
from simulators.akku.faults import StreamFaultPlan, StreamHangup, bad_line
from simulators.akku.store import Store, Subscriber

BACKLOG_CHUNK = 500  # backlog events per write to the socket


def _chunks(events: list[dict[str, Any]], types: frozenset[str]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for event in events:
        if not types or event["event_type"] in types:
            batch.append(event)
            if len(batch) >= BACKLOG_CHUNK:
                yield batch
                batch = []
    if batch:
        yield batch


async def stream_lines(
    store: Store, since: str, event_types: frozenset[str], heartbeat_seconds: float, plan: StreamFaultPlan
) -> AsyncIterator[str]:
    subscriber = Subscriber(since, event_types)
    backlog = _chunks(events_from(store, since), event_types)
    store.subscribers.append(subscriber)
    read = store.reads.open("stream", {"since": since, "event_type": sorted(event_types)})
    loop = asyncio.get_running_loop()
    last_line = loop.time()
    reason = "client_gone"
    try:
        while True:
            if subscriber.closing:
                reason = "closed_by_control"
                return
            batch: list[dict[str, Any] | None] = list(next(backlog, []))
            if not batch and subscriber.pending:
                batch = list(subscriber.pending)
                subscriber.pending.clear()
            if not batch:
                if subscriber.overflowed:
                    reason = "fell_behind"
                    return
                subscriber.ready.clear()
                idle = heartbeat_seconds - (loop.time() - last_line)
                if idle > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(subscriber.ready.wait(), idle)
                    continue
                batch = [None]  # a heartbeat
            out: list[str] = []
            for event in batch:
                rule = plan.before_line()
                if rule is not None and rule.kind == "disconnect":
                    if out:
                        yield "".join(out)
                    reason = "fault_disconnect"
                    if rule.abrupt:
                        reason = "fault_hangup"
                        raise StreamHangup
                    return
                if rule is not None and rule.kind == "stall":
                    if out:
                        yield "".join(out)
                        out = []
                    await plan.stall(rule.seconds)
                elif rule is not None and rule.kind == "bad_line":
                    out.append(bad_line(rule.shape))
                    plan.lines += 1
                if event is None:
                    out.append(json.dumps({api.HEARTBEAT: api.timestamp(datetime.now(UTC))}) + "\n")
                else:
                    out.append(json.dumps(event) + "\n")
                    store.reads.returned(read, event["event_id"])
                plan.lines += 1
            yield "".join(out)
            last_line = loop.time()
    finally:
        read.close(reason)
        with contextlib.suppress(ValueError):
            store.subscribers.remove(subscriber)
