"""Background traffic: ordinary, benign sign-ins at a steady rate, written by a task on the server's loop.

Each tick (0.1 s) writes the events due since the start in one batch and settles the log
once, so thousands of events a second cost little. The actors are accounts of their own
(`u_300001`…), never picked by a scenario, each signing in from its own address in
100.64.0.0/10 on a known device; about one sign-in in 40 first fails its MFA (a mistyped or
expired code) from that same good address. Nothing in it should look like an attack.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from pydantic import BaseModel, Field

from clients.akku import adapter as api
from simulators.akku.store import Store

TICK_SECONDS = 0.1
FIRST_ACTOR = 300_001
FAILURE_EVERY = 40  # one sign-in in this many begins with a failed MFA attempt


class TrafficRequest(BaseModel):
    events_per_second: float = Field(gt=0, le=50_000)
    seconds: float = Field(gt=0, le=86_400)
    actors: int = Field(default=1_000, ge=1, le=100_000)


def actor_id(n: int) -> str:
    return f"u_{FIRST_ACTOR + n}"


def home_ip(n: int) -> str:
    return f"100.{64 + n // 65_024}.{(n // 254) % 256}.{n % 254 + 1}"


class Traffic:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.task: asyncio.Task[None] | None = None
        self.asked: TrafficRequest | None = None
        self.written = 0
        self.sign_ins = 0
        self.started = 0.0
        self.ended: float | None = None
        self.outcome: str | None = None
        self.started_at: str | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, asked: TrafficRequest) -> None:
        for n in range(asked.actors):
            if actor_id(n) not in self.store.users:
                self.store.add_user(actor_id(n))
        self.asked, self.written, self.sign_ins, self.outcome, self.ended = asked, 0, 0, None, None
        self.started = time.monotonic()
        self.started_at = api.timestamp(self.store.clock())
        self.task = asyncio.get_running_loop().create_task(self._run(asked))
        self.task.add_done_callback(self._done)

    async def stop(self, outcome: str = "stopped") -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.outcome, self.ended = outcome, time.monotonic()

    def report(self) -> dict[str, Any]:
        elapsed = ((self.ended or time.monotonic()) - self.started) if self.asked else 0.0
        return {
            "running": self.running,
            "asked": self.asked.model_dump() if self.asked else None,
            "started_at": self.started_at,
            "elapsed_seconds": round(elapsed, 3),
            "events_written": self.written,
            "sign_ins": self.sign_ins,
            "events_per_second": round(self.written / elapsed, 1) if elapsed > 0 else 0.0,
            "outcome": self.outcome,
        }

    async def _run(self, asked: TrafficRequest) -> None:
        while True:
            elapsed = min(time.monotonic() - self.started, asked.seconds)
            due = int(asked.events_per_second * elapsed)
            while self.written < due:
                self._sign_in(self.store.rng.randrange(asked.actors))
            self.store.settle()
            if elapsed >= asked.seconds:
                self.outcome, self.ended = "finished", time.monotonic()
                return
            await asyncio.sleep(TICK_SECONDS)

    def _done(self, task: asyncio.Task[None]) -> None:
        """A failure here must show in GET /_sim/traffic, not vanish with the task."""
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.outcome, self.ended = f"failed: {type(exc).__name__}: {exc}", time.monotonic()

    def _sign_in(self, n: int) -> None:
        store, actor, ip = self.store, actor_id(n), home_ip(n)
        at = store.clock()
        method = (store.users[actor]["mfa_methods"] or ["push"])[0]
        risk = store.risk(known=True)
        self.sign_ins += 1
        if self.sign_ins % FAILURE_EVERY == 0:
            reason = "expired_code" if self.sign_ins % (2 * FAILURE_EVERY) else "wrong_code"
            store.event("mfa.challenge_issued", actor, at, ip, "Chennai", mfa_method=method, risk_context=risk)
            store.event(
                "mfa.failure",
                actor,
                at,
                ip,
                "Chennai",
                mfa_method=method,
                failure_reason=reason,
                outcome="failure",
                risk_context=risk,
            )
            self.written += 2
        store.event("mfa.challenge_issued", actor, at, ip, "Chennai", mfa_method=method, risk_context=risk)
        store.event("mfa.success", actor, at, ip, "Chennai", mfa_method=method, outcome="success", risk_context=risk)
        store.event("login.success", actor, at, ip, "Chennai", outcome="success", risk_context=risk)
        self.written += 3
