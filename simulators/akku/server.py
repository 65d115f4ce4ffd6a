"""The Akku simulator: the whole API contract (akku-api.md) over real HTTP, plus controls.

`/api/...` is the contract, guarded by the API key. `/_sim/...` drives the simulation:
load scenarios, read the write log (the judge of exactly-once), read the request log
(the judge of Retry-After), inject faults (429 with Retry-After, 5xx, timeouts, bad JSON,
dropped connections). Faults strike before a handler runs, so a failed write never acts.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clients.akku import adapter as api
from riposte.models.common import ActionKind
from simulators.akku import scenarios
from simulators.akku.store import CITIES, Store, event_order

FAULT_KINDS = ("429", "500", "502", "503", "timeout", "bad_json", "drop")
ACTION_BY_PATH = {path: kind for kind, path in api.ACTION_PATHS.items()}


class SimulatorConfig(BaseModel):
    api_key: str
    seed: int = 7
    scenarios: list[str] = Field(default_factory=list)
    now: datetime | None = None  # fixes the clock (tests); default: real time
    latency_ms: float = 0
    heartbeat_seconds: float = 15.0
    timeout_fault_seconds: float = 15.0
    faults: dict[str, Any] | None = None  # as POST /_sim/faults, in force from the start
    staff: int = Field(default=200, ge=20, le=100_000)  # regular accounts u_10001...

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("now must be timezone-aware (UTC)")
        return value


class BatchQuery(BaseModel):
    actor_ids: list[str] = Field(min_length=1, max_length=api.BATCH_LIMIT)
    since: str
    until: str | None = None
    event_types: list[str] | None = None


class UsersBatchBody(BaseModel):
    actor_ids: list[str] = Field(min_length=1, max_length=api.BATCH_LIMIT)


class ActionBody(BaseModel):
    reason: str = Field(min_length=1)
    reference: str = Field(min_length=1)
    role: str | None = None


class NewEvents(BaseModel):
    events: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)


class Faults(BaseModel):
    rate: float = Field(ge=0, le=1)
    kinds: list[str] = Field(default_factory=lambda: list(FAULT_KINDS))
    retry_after: int = Field(default=1, ge=0)
    paths: str | None = None
    seed: int | None = None


class SimError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


def scenario_names() -> list[str]:
    return list(scenarios.SCENARIOS)


def _parse_ts(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SimError(400, "invalid_timestamp", f"{name} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise SimError(400, "invalid_timestamp", f"{name} must carry a timezone (UTC)")
    return parsed.astimezone(UTC)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


ONE_USER = re.compile(r"^/v1/users/(?!batch$)[^/]+")


def route(path: str) -> str:
    """A request path as its route: `/v1/users/u_48213/lock` -> `/v1/users/{actor_id}/lock`."""
    return ONE_USER.sub("/v1/users/{actor_id}", path)


class FaultInjector:
    """ASGI middleware: decides per /api request whether to fail it, before the app sees it."""

    def __init__(self, app: ASGIApp, store: Store, config: SimulatorConfig) -> None:
        self.app, self.store, self.config = app, store, config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {
            "at": api.timestamp(datetime.now(UTC)),
            "method": scope["method"],
            "path": scope["path"].removeprefix("/api"),
            "fault": None,
            "status": None,
        }
        self.store.requests.append(entry)
        self.store.request_counts[f"{entry['method']} {route(entry['path'])}"] += 1
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        fault = self._draw(entry["path"])
        entry["fault"] = fault

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        if fault is None:
            await self.app(scope, receive, recording_send)
            return
        await self._fail(fault, recording_send)

    def _draw(self, path: str) -> str | None:
        faults = self.store.faults
        if not faults or not path.startswith(faults.get("paths") or "/"):
            return None
        if self.store.fault_rng.random() >= float(faults.get("rate", 0)):
            return None
        return str(self.store.fault_rng.choice(faults.get("kinds") or FAULT_KINDS))

    async def _fail(self, fault: str, send: Send) -> None:
        faults = self.store.faults or {}
        if fault == "timeout":
            await asyncio.sleep(self.config.timeout_fault_seconds)
            fault = "503"
        if fault == "drop":  # promise a body, send less, hang up: the client sees a broken connection
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"512")]})
            await send({"type": "http.response.body", "body": b'{"events": [', "more_body": False})
            return
        if fault == "bad_json":
            body = b'{"events": [{"event_id": "evt_'
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        status = int(fault)
        code = {429: "rate_limited", 500: "internal_error", 502: "bad_gateway", 503: "unavailable"}[status]
        body = json.dumps({"error": {"code": code, "message": f"simulated {status}"}}).encode()
        headers = [(b"content-type", b"application/json")]
        if status == 429:
            headers.append((b"retry-after", str(int(faults.get("retry_after", 1))).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def create_app(config: SimulatorConfig) -> FastAPI:
    store = Store(
        seed=config.seed, now=config.now or datetime.now(UTC), fixed_clock=config.now is not None, staff=config.staff
    )
    for name in config.scenarios:
        scenarios.load(store, name)
    if config.faults:
        store.faults = Faults.model_validate(config.faults).model_dump()
    app = FastAPI(title="Akku simulator", version="1", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json")
    app.state.store = store

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

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = f"Bearer {config.api_key}"
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise SimError(401, "unauthorized", "missing or invalid API key")

    router = APIRouter(prefix="/api", dependencies=[Depends(authorised)])
    written = WriteLog(store)
    _contract(router, store, config, written)
    app.include_router(router)
    _controls(app, store, written)
    app.add_middleware(FaultInjector, store=store, config=config)
    return app


def _filter_events(
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
        candidates = store.events[bisect.bisect_left(store.events, lo, key=lambda e: e["timestamp"]) :]
    return [
        e
        for e in candidates
        if (hi is None or e["timestamp"] < hi)
        and (not types or e["event_type"] in types)
        and (not ips or e["source_ip"] in ips)
    ]


def _page(items: list[dict[str, Any]], limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
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


def _contract(router: APIRouter, store: Store, config: SimulatorConfig, written: WriteLog) -> None:
    @router.get(api.AUTH_EVENTS)
    async def auth_events(
        since: str,
        until: str | None = None,
        event_type: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI's idiom for repeatable params
        actor_id: Annotated[list[str], Query()] = [],  # noqa: B006
        source_ip: Annotated[list[str], Query()] = [],  # noqa: B006
        limit: int = api.PAGE_LIMIT_DEFAULT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        start = _parse_ts(since, "since")
        assert start is not None
        events = _filter_events(store, start, _parse_ts(until, "until"), event_type, actor_id, source_ip)
        chunk, following = _page(events, limit, cursor)
        return {"events": chunk, "next_cursor": following}

    @router.get(api.AUTH_EVENTS_STREAM)
    async def stream(since: str, event_type: Annotated[list[str], Query()] = []) -> StreamingResponse:  # noqa: B006
        start = _parse_ts(since, "since")
        assert start is not None

        async def lines() -> AsyncIterator[str]:
            # Scenario events are sorted into the store by timestamp, so positions shift: remember
            # what was sent by id, not by index.
            sent: set[str] = set()
            while True:
                fresh = [e for e in _filter_events(store, start, None, event_type, [], []) if e["event_id"] not in sent]
                for event in fresh:
                    sent.add(event["event_id"])
                    yield json.dumps(event) + "\n"
                await asyncio.sleep(config.heartbeat_seconds)
                yield json.dumps({api.HEARTBEAT: api.timestamp(datetime.now(UTC))}) + "\n"

        return StreamingResponse(lines(), media_type=api.NDJSON)

    @router.post(api.AUTH_EVENTS_QUERY)
    async def query(body: BatchQuery) -> dict[str, Any]:
        start = _parse_ts(body.since, "since")
        assert start is not None
        end = _parse_ts(body.until, "until")
        known = [a for a in body.actor_ids if a in store.users]
        events = _filter_events(store, start, end, body.event_types or [], known, []) if known else []
        by_actor: dict[str, list[dict[str, Any]]] = {a: [] for a in known}
        for event in events:
            by_actor[event["actor_id"]].append(event)
        results = {}
        for actor, found in by_actor.items():
            newest = list(reversed(found))
            results[actor] = {
                "events": newest[: api.EVENTS_PER_ACTOR],
                "truncated": len(newest) > api.EVENTS_PER_ACTOR,
            }
        return {"results": results, "unknown_actor_ids": [a for a in body.actor_ids if a not in store.users]}

    @router.get(api.USERS)
    async def find_users(email: str | None = None, login: str | None = None) -> dict[str, Any]:
        if (email is None) == (login is None):
            raise SimError(400, "invalid_request", "give exactly one of email or login")
        field, value = ("email", email) if email is not None else ("login", login)
        wanted = (value or "").lower()
        return {"users": [u for u in store.users.values() if (u[field] or "").lower() == wanted]}

    @router.post(api.USERS_BATCH)
    async def users_batch(body: UsersBatchBody) -> dict[str, Any]:
        return {
            "users": {a: store.users[a] for a in body.actor_ids if a in store.users},
            "unknown_actor_ids": [a for a in body.actor_ids if a not in store.users],
        }

    @router.get(api.USERS + "/{actor_id}")
    async def get_user(actor_id: str) -> dict[str, Any]:
        if actor_id not in store.users:
            raise SimError(404, "not_found", f"no user {actor_id}")
        return store.users[actor_id]

    @router.post(api.USERS + "/{actor_id}/{action_path:path}")
    async def act(
        actor_id: str,
        action_path: str,
        body: ActionBody,
        idempotency_key: Annotated[str | None, Header(alias=api.IDEMPOTENCY_HEADER)] = None,
    ) -> dict[str, Any]:
        kind = ACTION_BY_PATH.get(action_path)
        if kind is None:
            raise SimError(404, "not_found", f"no action {action_path}")
        if actor_id not in store.users:
            raise SimError(404, "not_found", f"no user {actor_id}")
        if kind is ActionKind.REVOKE_ROLE and not body.role:
            raise SimError(422, "invalid_request", "role is required")
        now = datetime.now(UTC)
        if idempotency_key:
            cached = store.idempotency.get(idempotency_key)
            if cached and now - cached[0] < timedelta(hours=24):
                await written.record({**cached[1]["_log"], "at": api.timestamp(now), "status": "replayed"})
                return {k: v for k, v in cached[1].items() if k != "_log"}
        user = store.users[actor_id]
        status = _apply(user, kind, body.role)
        log = {
            "at": api.timestamp(now),
            "actor_id": actor_id,
            "action": api.ACTION_NAMES[kind],
            "path": f"{api.user_path(actor_id)}/{action_path}",
            "idempotency_key": idempotency_key,
            "reference": body.reference,
            "reason": body.reason,
            "role": body.role,
            "status": status,
        }
        await written.record(log)
        answer = {"actor_id": actor_id, "action": api.ACTION_NAMES[kind], "status": status, "user": dict(user)}
        if idempotency_key:
            store.idempotency[idempotency_key] = (now, {**answer, "_log": log})
        return answer

    @router.get(api.AUDIT_EVENTS)
    async def audit_events(
        since: str,
        until: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        limit: int = api.PAGE_LIMIT_DEFAULT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        lo = api.timestamp(_parse_ts(since, "since") or datetime.now(UTC))
        end = _parse_ts(until, "until")
        hi = api.timestamp(end) if end else None
        events = [
            e
            for e in store.audit
            if e["timestamp"] >= lo
            and (hi is None or e["timestamp"] < hi)
            and (actor_id is None or e["actor_id"] == actor_id)
            and (action is None or e["action"] == action)
        ]
        chunk, following = _page(events, limit, cursor)
        return {"events": chunk, "next_cursor": following}

    @router.get(api.LOGIN_METRICS)
    async def login_metrics(window: str = "24h") -> dict[str, Any]:
        if window != "24h":
            raise SimError(400, "invalid_window", "only window=24h is supported")
        # the hour now in progress is the last of the 24 (the simulator's clock: fixed in tests)
        now = store.clock().replace(minute=0, second=0, microsecond=0)
        trend = []
        total = failed = 0
        for h in range(23, -1, -1):
            start, end = now - timedelta(hours=h), now - timedelta(hours=h - 1)
            lo, hi = api.timestamp(start), api.timestamp(end)
            in_hour = [e for e in store.events if lo <= e["timestamp"] < hi and e["event_type"].startswith("login.")]
            bad = sum(1 for e in in_hour if e["event_type"] == "login.failure")
            trend.append({"hour": lo, "total": len(in_hour), "failed": bad})
            total, failed = total + len(in_hour), failed + bad
        return {
            "window": window,
            "total_logins": total,
            "successful": total - failed,
            "failed": failed,
            "success_rate": round((total - failed) / total, 4) if total else 1.0,
            "failure_rate": round(failed / total, 4) if total else 0.0,
            "trend": trend,
        }


def _apply(user: dict[str, Any], kind: ActionKind, role: str | None) -> str:
    if kind is ActionKind.LOCK:
        if user["status"] == "locked":
            return "already_applied"
        user["status"] = "locked"
    elif kind is ActionKind.UNLOCK:
        if user["status"] == "active":
            return "already_applied"
        user["status"] = "active"
    elif kind is ActionKind.FORCE_PASSWORD_RESET:
        if user["password_reset_required"]:
            return "already_applied"
        user["password_reset_required"] = True
    elif kind is ActionKind.RESET_MFA:
        if not user["mfa_methods"]:
            return "already_applied"
        user["mfa_methods"] = []
    elif kind is ActionKind.REVOKE_ROLE:
        if role not in user["roles"]:
            return "already_applied"
        user["roles"] = [r for r in user["roles"] if r != role]
    return "applied"  # revoke_sessions: always ends whatever is live


def _controls(app: FastAPI, store: Store, written: WriteLog) -> None:
    @app.get("/_sim/scenarios")
    async def list_scenarios() -> dict[str, Any]:
        return {"scenarios": {name: (fn.__doc__ or "").strip() for name, fn in scenarios.SCENARIOS.items()}}

    @app.post("/_sim/scenarios/{name}")
    async def load_scenario(name: str, body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        try:
            return scenarios.load(store, name, body or {})
        except KeyError:
            raise SimError(
                404, "unknown_scenario", f"no scenario {name}; try {', '.join(scenarios.SCENARIOS)}"
            ) from None
        except ValueError as exc:
            raise SimError(422, "invalid_request", str(exc)) from None

    @app.get("/_sim/writes")
    async def writes(
        actor_id: Annotated[list[str] | None, Query()] = None,
        after: Annotated[int, Query(ge=0)] = 0,
        wait: Annotated[float, Query(ge=0, le=60)] = 0,
    ) -> dict[str, Any]:
        """The write log: `after` skips the first N entries, `actor_id` filters, and `wait` holds
        the request (long poll) up to that many seconds until a matching write arrives."""
        actors = set(actor_id or ())
        found = await written.wait(after, actors, wait) if wait else written.matching(after, actors)
        return {"writes": found, "next": len(store.writes)}

    @app.get("/_sim/requests")
    async def requests(limit: int = 1000) -> dict[str, Any]:
        """The most recent requests (the log keeps 20,000) and a count of every request by route."""
        return {"requests": list(store.requests)[-limit:], "counts": dict(store.request_counts)}

    @app.post("/_sim/faults")
    async def set_faults(faults: Faults) -> dict[str, Any]:
        unknown = [k for k in faults.kinds if k not in FAULT_KINDS]
        if unknown:
            raise SimError(422, "invalid_request", f"unknown fault kinds {unknown}; known: {FAULT_KINDS}")
        store.faults = faults.model_dump()
        if faults.seed is not None:
            store.fault_rng.seed(faults.seed)
        return {"faults": store.faults}

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        store.faults = None
        return {"faults": None}

    @app.post("/_sim/events")
    async def write_events(body: NewEvents) -> dict[str, Any]:
        """Write events as Akku would (tests, the detector's scenarios): each gets an event id and
        lands in the log, the per-actor index and the live stream; `timestamp` defaults to now."""
        ids = []
        for raw in body.events:
            fields = dict(raw)
            event_type, actor_id = str(fields.pop("event_type", "")), str(fields.pop("actor_id", ""))
            if not event_type or not actor_id:
                raise SimError(422, "invalid_request", "every event needs event_type and actor_id")
            at = _parse_ts(str(fields.pop("timestamp")), "timestamp") if fields.get("timestamp") else None
            city = fields.pop("city", None)
            if city is not None and city not in CITIES:
                raise SimError(422, "invalid_request", f"unknown city {city!r}; known: {sorted(CITIES)}")
            ip = str(fields.pop("source_ip", "198.51.100.7"))
            store.event(event_type, actor_id, at or store.clock(), ip, city, **fields)
            ids.append(store.events[-1]["event_id"])
        store.settle()
        return {"event_ids": ids}

    @app.patch("/_sim/users/{actor_id}")
    async def patch_user(actor_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Create or change a user record (status, roles, privileged, last_active_at, ...)."""
        if actor_id not in store.users:
            store.add_user(actor_id)
        unknown = set(body) - set(store.users[actor_id])
        if unknown:
            raise SimError(422, "invalid_request", f"unknown user fields {sorted(unknown)}")
        store.users[actor_id].update(body)
        return store.users[actor_id]

    @app.get("/_sim/users/{actor_id}")
    async def user(actor_id: str) -> dict[str, Any]:
        if actor_id not in store.users:
            raise SimError(404, "not_found", f"no user {actor_id}")
        return store.users[actor_id]


def run(host: str, port: int, config: SimulatorConfig) -> None:
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
