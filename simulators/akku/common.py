"""What the contract and control routes share: errors, timestamps, event filters, pages, the write log."""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from clients.akku import adapter as api
from simulators.akku.store import Store, event_order

ONE_USER = re.compile(r"^/v1/users/(?!batch$)[^/]+")


class SimError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SimError)
    async def _sim_error(_: Request, exc: SimError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(
            {"error": {"code": "invalid_request", "message": f"{where}: {first.get('msg', 'invalid')}"}},
            status_code=422,
        )


def route(path: str) -> str:
    """A request path as its route: `/v1/users/u_48213/lock` -> `/v1/users/{actor_id}/lock`."""
    return ONE_USER.sub("/v1/users/{actor_id}", path)


def parse_ts(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SimError(400, "invalid_timestamp", f"{name} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise SimError(400, "invalid_timestamp", f"{name} must carry a timezone (UTC)")
    return parsed.astimezone(UTC)


def events_from(store: Store, lo: str) -> list[dict[str, Any]]:
    """The log from timestamp `lo` on (a copy: the log may change under a reader that awaits)."""
    return store.events[bisect.bisect_left(store.events, lo, key=lambda e: e["timestamp"]) :]


def filter_events(
    store: Store,
    since: datetime,
    until: datetime | None,
    event_types: list[str],
    actor_ids: list[str],
    source_ips: list[str],
) -> list[dict[str, Any]]:
    """Events in [since, until) matching every filter given, oldest first."""
    lo, hi = api.timestamp(since), api.timestamp(until) if until else None
    types, ips = set(event_types), set(source_ips)
    if actor_ids:  # each actor's own events, not the whole log
        candidates: list[dict[str, Any]] = []
        for actor_id in dict.fromkeys(actor_ids):
            own = store.by_actor.get(actor_id, [])
            candidates += own[bisect.bisect_left(own, lo, key=lambda e: e["timestamp"]) :]
        if len(actor_ids) > 1:
            candidates.sort(key=event_order)
    else:
        candidates = events_from(store, lo)
    return [
        e
        for e in candidates
        if (hi is None or e["timestamp"] < hi)
        and (not types or e["event_type"] in types)
        and (not ips or e["source_ip"] in ips)
    ]


def page(items: list[dict[str, Any]], limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    if not 1 <= limit <= api.PAGE_LIMIT_MAX:
        raise SimError(400, "invalid_limit", f"limit must be 1..{api.PAGE_LIMIT_MAX}")
    offset = 0
    if cursor:
        if not cursor.startswith("c_") or not cursor[2:].isdigit():
            raise SimError(400, "invalid_cursor", "unknown cursor")
        offset = int(cursor[2:])
    chunk = items[offset : offset + limit]
    following = offset + limit
    return chunk, f"c_{following}" if following < len(items) else None


def event_page(events: list[dict[str, Any]], limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of time-ordered events; the cursor names the last event given (timestamp and id), so
    the next page starts right after it even when retention has dropped older events meanwhile."""
    if not 1 <= limit <= api.PAGE_LIMIT_MAX:
        raise SimError(400, "invalid_limit", f"limit must be 1..{api.PAGE_LIMIT_MAX}")
    start = 0
    if cursor:
        try:
            timestamp, event_id = base64.urlsafe_b64decode(cursor.removeprefix("c_")).decode().split("|")
        except ValueError:
            raise SimError(400, "invalid_cursor", "unknown cursor") from None
        start = bisect.bisect_right(events, (timestamp, event_id), key=event_order)
    chunk = events[start : start + limit]
    if start + limit >= len(events):
        return chunk, None
    last = "|".join(event_order(chunk[-1]))
    return chunk, "c_" + base64.urlsafe_b64encode(last.encode()).decode()


class WriteLog:
    """The write log, with a way to wait for the next write instead of polling it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._changed = asyncio.Condition()

    async def record(self, entry: dict[str, Any]) -> None:
        self._store.writes.append(entry)
        async with self._changed:
            self._changed.notify_all()

    def matching(self, after: int, actor_ids: set[str]) -> list[dict[str, Any]]:
        return [w for w in self._store.writes[after:] if not actor_ids or w["actor_id"] in actor_ids]

    async def wait(self, after: int, actor_ids: set[str], seconds: float) -> list[dict[str, Any]]:
        """Writes after position `after` (for these actors), waiting up to `seconds` for the first."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.matching(after, actor_ids))), seconds)
        return self.matching(after, actor_ids)
