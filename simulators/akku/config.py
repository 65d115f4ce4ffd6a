"""The simulator's start-up settings (imported as `simulators.akku.server.SimulatorConfig`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from simulators.akku.store import MAX_EVENTS


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
    max_events: int = Field(default=MAX_EVENTS, ge=1_000, le=10_000_000)  # retention cap of the event log

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("now must be timezone-aware (UTC)")
        return value
