"""Reading Akku's events for a long-lived consumer (the detector): an unreadable event or stream
line is handed back as `Malformed`, to count and read on, instead of failing the read.

Functions over an AkkuClient (its transport, retries and error taxonomy), kept apart from
client.py, which serves the workflows' one-shot reads and writes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from clients.akku import adapter as api
from clients.akku.client import AkkuClient, _error_of, _retry_after
from clients.akku.errors import AkkuUnavailable, for_status
from clients.akku.models import AuthEvent

STREAM_READ_TIMEOUT = 45.0  # three missed heartbeats (every 15 s): the stream is dead, reconnect


@dataclass(frozen=True)
class Heartbeat:
    """The stream's keep-alive line."""

    at: str


@dataclass(frozen=True)
class Malformed:
    """A line or event that is not JSON or not an event (never its content: it may carry anything)."""

    problem: str
    length: int


class _RawPage(BaseModel):
    events: list[Any]
    next_cursor: str | None = None


async def event_records(akku: AkkuClient, since: datetime) -> AsyncIterator[AuthEvent | Malformed]:
    """Every event since `since` (`GET /v1/auth-events`), page by page, each checked on its own: an
    unreadable event is yielded as `Malformed` instead of failing its whole page."""
    cursor: str | None = None
    while True:
        params: list[tuple[str, str]] = [(api.P_SINCE, api.timestamp(since)), (api.P_LIMIT, str(api.PAGE_LIMIT_MAX))]
        if cursor:
            params.append((api.P_CURSOR, cursor))
        page = await akku._request("GET", api.AUTH_EVENTS, _RawPage, params=params)
        for raw in page.events:
            try:
                yield AuthEvent.model_validate(raw)
            except ValidationError as exc:
                yield Malformed(type(exc).__name__, len(str(raw)))
        if not page.next_cursor:
            return
        cursor = page.next_cursor


async def stream_records(
    akku: AkkuClient, since: datetime, event_types: Sequence[str] = ()
) -> AsyncIterator[AuthEvent | Heartbeat | Malformed]:
    """The NDJSON stream (`GET /v1/auth-events/stream`) line by line: events, heartbeats, and each
    unreadable line as `Malformed`. Ends when Akku closes the stream; a refused or dropped
    connection, no line within STREAM_READ_TIMEOUT, or an error status raise the taxonomy's classes."""
    what = f"GET {api.AUTH_EVENTS_STREAM}"
    pairs: list[tuple[str, str | int | float | bool | None]] = [(api.P_SINCE, api.timestamp(since))]
    pairs += [(api.P_EVENT_TYPE, t) for t in event_types]
    http = akku._http
    timeout = httpx.Timeout(http.timeout.connect, read=STREAM_READ_TIMEOUT)
    try:
        async with http.stream(
            "GET", api.AUTH_EVENTS_STREAM, params=httpx.QueryParams(pairs), timeout=timeout
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                code, message = _error_of(response)
                raise for_status(
                    response.status_code, f"{what}: {response.status_code} {message}", code, _retry_after(response)
                )
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if isinstance(data, dict) and api.HEARTBEAT in data:
                        yield Heartbeat(str(data[api.HEARTBEAT]))
                        continue
                    yield AuthEvent.model_validate(data)
                except (ValueError, ValidationError) as exc:
                    yield Malformed(type(exc).__name__, len(line))
    except httpx.TimeoutException:
        raise AkkuUnavailable(f"{what}: no line from Akku within {STREAM_READ_TIMEOUT:.0f} s") from None
    except httpx.TransportError as exc:
        raise AkkuUnavailable(f"{what}: connection failed ({type(exc).__name__})") from None
