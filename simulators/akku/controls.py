"""The simulation's controls under /_sim: scenarios, the write, request and reads logs, faults,
events and users written by hand, and background traffic."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, Query
from pydantic import BaseModel, Field

from simulators.akku import scenarios
from simulators.akku.common import SimError, WriteLog, parse_ts
from simulators.akku.faults import Faults, set_faults
from simulators.akku.store import CITIES, Store
from simulators.akku.traffic import Traffic, TrafficRequest


class NewEvents(BaseModel):
    events: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)


def scenario_routes(app: FastAPI, store: Store) -> None:
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

    @app.post("/_sim/events")
    async def write_events(body: NewEvents) -> dict[str, Any]:
        """Write events as Akku would (tests, the detector's scenarios): each gets an event id and
        lands in the log, the per-actor index and the live stream; `timestamp` defaults to now."""
        checked = []
        for raw in body.events:  # check them all before writing any: bad input changes nothing
            fields = dict(raw)
            event_type, actor_id = str(fields.pop("event_type", "")), str(fields.pop("actor_id", ""))
            if not event_type or not actor_id:
                raise SimError(422, "invalid_request", "every event needs event_type and actor_id")
            if "event_id" in fields:
                raise SimError(422, "invalid_request", "event_id is assigned by Akku; leave it out")
            at = parse_ts(str(fields.pop("timestamp")), "timestamp") if fields.get("timestamp") else None
            city = fields.pop("city", None)
            if city is not None and city not in CITIES:
                raise SimError(422, "invalid_request", f"unknown city {city!r}; known: {sorted(CITIES)}")
            ip = str(fields.pop("source_ip", "198.51.100.7"))
            checked.append((event_type, actor_id, at, ip, city, fields))
        ids = []
        for event_type, actor_id, at, ip, city, fields in checked:
            store.event(event_type, actor_id, at or store.clock(), ip, city, **fields)
            ids.append(store.reads.last_written)
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


def log_routes(app: FastAPI, store: Store, written: WriteLog) -> None:
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

    @app.get("/_sim/streams")
    async def streams() -> dict[str, Any]:
        """The open stream connections: each one's `since`, event types and events not yet sent."""
        return {
            "streams": [
                {"since": s.since, "event_types": sorted(s.event_types), "pending": len(s.pending)}
                for s in store.subscribers
            ]
        }

    @app.delete("/_sim/streams")
    async def close_streams() -> dict[str, Any]:
        """End every open stream cleanly (before shutting the server down: uvicorn waits for them)."""
        for subscriber in store.subscribers:
            subscriber.close()
        return {"closed": len(store.subscribers)}

    @app.get("/_sim/reads")
    async def reads(limit: Annotated[int, Query(ge=0, le=1000)] = 50) -> dict[str, Any]:
        """Consumer reads (each stream connection, each poll page): counts for all time and the
        last `limit` reads with the event ids each returned."""
        return {**store.reads.summary(limit), "events_retained": len(store.events), "events_trimmed": store.trimmed}

    @app.get("/_sim/reads/missing")
    async def missing(
        since_event: str | None = None, limit: Annotated[int, Query(ge=1, le=100_000)] = 1000
    ) -> dict[str, Any]:
        """Event ids written (at or after `since_event`, in write order) that no read returned."""
        try:
            numbers, total = store.reads.missing(since_event, limit)
        except ValueError as exc:
            raise SimError(422, "invalid_request", str(exc)) from None
        return {"missing": [f"evt_{store.seed:02d}{n:010d}" for n in numbers], "count": total}


def fault_routes(app: FastAPI, store: Store) -> None:
    @app.post("/_sim/faults")
    async def post_faults(faults: Faults) -> dict[str, Any]:
        set_faults(store, faults)
        return {"faults": store.faults}

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        set_faults(store, None)
        return {"faults": None}

    @app.get("/_sim/faults")
    async def get_faults() -> dict[str, Any]:
        return {"faults": store.faults, "stream_strikes": {str(k): v for k, v in store.fault_strikes.items()}}


def traffic_routes(app: FastAPI, traffic: Traffic) -> None:
    @app.post("/_sim/traffic")
    async def start_traffic(asked: TrafficRequest) -> dict[str, Any]:
        """Write benign sign-ins at `events_per_second` for `seconds` in the background."""
        if traffic.running:
            raise SimError(409, "traffic_running", "traffic is already running; DELETE /_sim/traffic first")
        traffic.start(asked)
        return traffic.report()

    @app.get("/_sim/traffic")
    async def traffic_report() -> dict[str, Any]:
        return traffic.report()

    @app.delete("/_sim/traffic")
    async def stop_traffic() -> dict[str, Any]:
        await traffic.stop()
        return traffic.report()
