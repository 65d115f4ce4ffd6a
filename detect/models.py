"""What the detector remembers between attempts: its position, kept by Temporal as heartbeat details.

Small by design (a few KB): the position, the replay-from point, the rules' suppressions,
the last hour's firings and counters. Events never go in here, nor into any workflow history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from riposte.models.common import Model

FIRINGS_KEPT = 200  # the last hour's firings, at most this many
SUPPRESSIONS_KEPT = 500  # the newest quiet periods (older ones re-derive the same dedup key: duplicates)
RECENT_IDS_KEPT = 1000  # ids processed just before the position (to tell them from late arrivals)

Mode = Literal["stream", "poll", "poll-fallback"]


class Position(Model):
    timestamp: datetime
    event_id: str


class Suppression(Model):
    rule: str
    key: str
    until: datetime = Field(description="the rule stays quiet for this key until then (event time)")
    dedup_key: str


class FiringNote(Model):
    rule: str
    key: str
    dedup_key: str
    fired_at: datetime = Field(description="wall-clock time the alert run was started")
    window_start: datetime
    window_end: datetime
    actors: int
    workflow_id: str
    status: str  # started | duplicate | no_playbook | failed


class Counters(Model):
    events: int = Field(default=0, description="events processed once each (not counting re-reads)")
    replayed: int = Field(default=0, description="events re-read after a restart to rebuild the windows")
    duplicates: int = Field(default=0, description="events delivered twice within one attempt, skipped")
    malformed: int = 0
    firings: int = 0
    reconnects: int = 0
    fallbacks: int = Field(default=0, description="times the stream was unavailable and polling took over")
    lookups: int = Field(default=0, description="accounts looked up in Akku for their last activity")
    attempts: int = Field(default=0, description="activity attempts so far (1 + restarts)")


class Checkpoint(Model):
    position: Position | None = None
    replay_from: datetime | None = Field(default=None, description="the oldest event any window still needs")
    suppressions: list[Suppression] = Field(default_factory=list)
    recent_ids: list[str] = Field(default_factory=list)
    counters: Counters = Field(default_factory=Counters)
    firings: list[FiringNote] = Field(default_factory=list)
    mode: Mode = "stream"
    events_per_second: float = 0.0
    lag_seconds: float | None = Field(default=None, description="wall clock minus the newest event's timestamp")
    heartbeat_at: datetime | None = None
    rules: list[str] = Field(default_factory=list, description="the rules in force (those with a playbook)")


class DetectorInput(Model):
    checkpoint: Checkpoint | None = None
    run_for_seconds: float = Field(default=3600, gt=0, description="each follow_akku call returns after this long")
    runs_per_history: int = Field(default=24, ge=1, description="then the workflow continues as new")


class FollowInput(Model):
    checkpoint: Checkpoint | None = None
    run_for_seconds: float = Field(default=3600, description="return the checkpoint after this long")


class FollowResult(Model):
    checkpoint: Checkpoint
