"""The contract's routes (docs/akku.md) under /api: events, the stream, batch queries, users,
actions, admin audit events and login metrics."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from clients.akku import adapter as api
from riposte.models.common import ActionKind
from simulators.akku.common import SimError, WriteLog, event_page, filter_events, page, parse_ts
from simulators.akku.config import SimulatorConfig
from simulators.akku.faults import StreamFaultPlan
from simulators.akku.feed import stream_lines
from simulators.akku.store import Store

ACTION_BY_PATH = {path: kind for kind, path in api.ACTION_PATHS.items()}


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


def events_routes(router: APIRouter, store: Store, config: SimulatorConfig) -> None:
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
        start = parse_ts(since, "since")
        assert start is not None
        events = filter_events(store, start, parse_ts(until, "until"), event_type, actor_id, source_ip)
        chunk, following = event_page(events, limit, cursor)
        params = {"since": since, "until": until, "event_type": event_type, "actor_id": actor_id, "cursor": cursor}
        read = store.reads.open("poll", {k: v for k, v in params.items() if v})
        for event in chunk:
            store.reads.returned(read, event["event_id"])
        return {"events": chunk, "next_cursor": following}

    @router.get(api.AUTH_EVENTS_STREAM)
    async def stream(since: str, event_type: Annotated[list[str], Query()] = []) -> StreamingResponse:  # noqa: B006
        start = parse_ts(since, "since")
        assert start is not None
        plan = StreamFaultPlan(store)
        status = plan.on_connect()
        if status is not None:
            code = {500: "internal_error", 502: "bad_gateway", 503: "unavailable"}[status]
            raise SimError(status, code, f"simulated {status} on connect")
        lines = stream_lines(store, api.timestamp(start), frozenset(event_type), config.heartbeat_seconds, plan)
        return StreamingResponse(lines, media_type=api.NDJSON)

    @router.post(api.AUTH_EVENTS_QUERY)
    async def query(body: BatchQuery) -> dict[str, Any]:
        start = parse_ts(body.since, "since")
        assert start is not None
        end = parse_ts(body.until, "until")
        known = [a for a in body.actor_ids if a in store.users]
        events = filter_events(store, start, end, body.event_types or [], known, []) if known else []
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

    @router.get(api.AUDIT_EVENTS)
    async def audit_events(
        since: str,
        until: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        limit: int = api.PAGE_LIMIT_DEFAULT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        lo = api.timestamp(parse_ts(since, "since") or datetime.now(UTC))
        end = parse_ts(until, "until")
        hi = api.timestamp(end) if end else None
        events = [
            e
            for e in store.audit
            if e["timestamp"] >= lo
            and (hi is None or e["timestamp"] < hi)
            and (actor_id is None or e["actor_id"] == actor_id)
            and (action is None or e["action"] == action)
        ]
        chunk, following = page(events, limit, cursor)
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
            first, last = (bisect.bisect_left(store.events, t, key=lambda e: e["timestamp"]) for t in (lo, hi))
            in_hour = [e for e in store.events[first:last] if e["event_type"].startswith("login.")]
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


def users_routes(router: APIRouter, store: Store, written: WriteLog) -> None:
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
