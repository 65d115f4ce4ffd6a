"""Fault injection: request faults before a handler runs, and stream faults inside the stream.

Request faults (`rate`, `kinds`) strike before the handler, so a failed write never acts.
Stream faults (`stream`: a list of rules) strike on the event stream: `5xx` when a client
connects; `disconnect`, `bad_line` and `stall` before a line (event or heartbeat) is sent,
either once a connection has sent `after_lines` lines or by chance (`rate` per line). A rule
with `times` strikes that many times in all, then rests. Both are set at start
(`SimulatorConfig.faults`) or at run time (`POST /_sim/faults`, `DELETE /_sim/faults`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clients.akku import adapter as api
from simulators.akku.common import route
from simulators.akku.config import SimulatorConfig
from simulators.akku.store import Store

FAULT_KINDS = ("429", "500", "502", "503", "timeout", "bad_json", "drop")
STREAM_FAULT_KINDS = ("disconnect", "5xx", "bad_line", "stall")


class StreamFault(BaseModel):
    kind: Literal["disconnect", "5xx", "bad_line", "stall"]
    after_lines: int | None = Field(default=None, ge=0)  # strike once a connection has sent this many lines
    rate: float = Field(default=0, ge=0, le=1)  # or by chance: per line (per connection attempt for 5xx)
    times: int | None = Field(default=None, ge=1)  # strike at most this many times in all
    status: Literal[500, 502, 503] = 503  # 5xx: the status answered
    shape: Literal["malformed", "not_event"] = "malformed"  # bad_line: cut-off JSON, or JSON without event_id
    seconds: float = Field(default=5.0, gt=0, le=3600)  # stall: how long nothing at all is sent
    abrupt: bool = False  # disconnect: hang up mid-response instead of ending the response

    @model_validator(mode="after")
    def _strikes_somehow(self) -> Self:
        if self.kind == "5xx" and self.after_lines is not None:
            raise ValueError("5xx strikes on connect: give rate (and times), not after_lines")
        if self.after_lines is None and not self.rate:
            raise ValueError(f"{self.kind}: give after_lines or a rate above 0")
        return self


class Faults(BaseModel):
    rate: float = Field(default=0, ge=0, le=1)
    kinds: list[str] = Field(default_factory=lambda: list(FAULT_KINDS))
    retry_after: int = Field(default=1, ge=0)
    paths: str | None = None
    seed: int | None = None
    stream: list[StreamFault] = Field(default_factory=list, max_length=20)

    @field_validator("kinds")
    @classmethod
    def _known(cls, kinds: list[str]) -> list[str]:
        unknown = [k for k in kinds if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
        return kinds


def set_faults(store: Store, faults: Faults | None) -> None:
    store.faults = faults.model_dump() if faults else None
    store.fault_strikes.clear()
    store.fault_generation += 1
    if faults and faults.seed is not None:
        store.fault_rng.seed(faults.seed)


class StreamHangup(Exception):
    """Raised by the stream to hang up without ending the response (caught by FaultInjector)."""


class StreamFaultPlan:
    """One stream connection's faults: the rules in force (read live) and the lines it has sent."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lines = 0
        self._parsed: tuple[int, list[StreamFault]] = (-1, [])

    def _rules(self) -> list[StreamFault]:
        generation, rules = self._parsed
        if generation != self.store.fault_generation:
            raw = (self.store.faults or {}).get("stream") or []
            rules = [StreamFault.model_validate(r) for r in raw]
            self._parsed = (self.store.fault_generation, rules)
        return rules

    def _strike(self, index: int, rule: StreamFault, on_count: bool) -> bool:
        if rule.times is not None and self.store.fault_strikes[index] >= rule.times:
            return False
        hit = on_count or (rule.rate > 0 and self.store.fault_rng.random() < rule.rate)
        if hit:
            self.store.fault_strikes[index] += 1
        return hit

    def on_connect(self) -> int | None:
        """The status to refuse this connection with, if a 5xx rule strikes."""
        for index, rule in enumerate(self._rules()):
            if rule.kind == "5xx" and self._strike(index, rule, False):
                return rule.status
        return None

    def before_line(self) -> StreamFault | None:
        """The rule that strikes before the next line, if any."""
        if not (self.store.faults or {}).get("stream"):
            return None
        for index, rule in enumerate(self._rules()):
            if rule.kind != "5xx" and self._strike(index, rule, rule.after_lines == self.lines):
                return rule
        return None

    async def stall(self, seconds: float) -> None:
        """Send nothing for `seconds`, or until the faults change."""
        generation = self.store.fault_generation
        deadline = asyncio.get_running_loop().time() + seconds
        while self.store.fault_generation == generation:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))


def bad_line(shape: str) -> str:
    if shape == "not_event":  # valid JSON, but no event_id: not an event
        at = api.timestamp(datetime.now(UTC))
        return json.dumps({"event_type": "mfa.failure", "timestamp": at, "actor_id": "u_10001"}) + "\n"
    return '{"event_id": "evt_\n'


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
            try:
                await self.app(scope, receive, recording_send)
            except StreamHangup:  # leave the response unfinished: the server closes the connection
                entry["fault"] = "stream_hangup"
            return
        await self._fail(fault, recording_send)

    def _draw(self, path: str) -> str | None:
        faults = self.store.faults
        if not faults or not faults.get("rate") or not path.startswith(faults.get("paths") or "/"):
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
