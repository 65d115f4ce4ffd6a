"""What a run costs Temporal, counted from its history: events, tasks, and Cloud's billable Actions.

Pure functions over history events (temporalio's `WorkflowHistory.events`), so a committed
history and a live one count alike. Billable Actions follow Temporal Cloud's published
definition, https://docs.temporal.io/evaluate/cloud/actions (read 2026-12-02):

- workflow started (client start, Continue-As-New, child start): 1; a Signal-With-Start is one
  Action in all, whether or not it starts the run, so the signal that a Signal-With-Start
  writes right after the start (event 2) adds nothing;
- a child workflow's START_CHILD_WORKFLOW_EXECUTION_INITIATED: 2 (the intent and the start),
  and the child's own start is not counted again;
- every signal received (from a client or another workflow), every accepted update, every timer
  started, every activity scheduled and every activity retry (the STARTED event's attempt - 1);
- every `UpsertSearchAttributes` command, except one that only sets `TemporalChangeVersion`
  (core records one for each patch); search attributes given at start are free;
- local activities: every workflow task that records local-activity markers is one Action,
  however many it records, plus their retries (`metering_metadata.
  nonfirst_local_activity_execution_attempts` on the task's completion);
- a workflow options update: 1.

Not in a history, so not counted here: queries (each one an Action; Riposte's own code sends
none, operators' `riposte status` and the UI's stack view do), rejected updates, and activity
heartbeats (the first goes out at once, then the SDK sends at most one per 80% of the heartbeat
timeout: an upper bound is estimated from the duration of each activity that has a heartbeat
timeout, and kept apart from the counted total).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"
CHANGE_VERSION = "TemporalChangeVersion"
HEARTBEAT_THROTTLE = 0.8  # the SDKs send at most one heartbeat per 80% of the heartbeat timeout

# Temporal Cloud, Pay-As-You-Go, https://docs.temporal.io/cloud/pricing (read 2026-12-02):
# $50 per million Actions on the Developer plan at every volume and for the first 5M a month on
# the others, falling in steps to $25 per million past 100M a month.
PRICE_PER_MILLION = 50.0
PRICE_PER_MILLION_AT_VOLUME = 25.0

E = EventType


@dataclass
class Counts:
    """What a set of histories holds (add them up with `+`, divide with `per`)."""

    runs: float = 0
    events: float = 0
    history_bytes: float = 0
    workflow_tasks: float = 0  # completed, failed or timed out
    starts: float = 0  # runs started (by a client, Signal-With-Start, Continue-As-New)
    signal_with_starts: float = 0  # of those, started by Signal-With-Start
    continued_as_new: float = 0
    children: float = 0
    activities: float = 0
    activity_retries: float = 0
    local_activities: float = 0  # local-activity markers
    local_activity_tasks: float = 0  # workflow tasks that recorded at least one
    local_activity_retries: float = 0
    patch_markers: float = 0
    timers: float = 0
    signals: float = 0
    updates: float = 0
    upserts: float = 0
    change_version_upserts: float = 0  # upserts of TemporalChangeVersion alone: not billed
    options_updates: float = 0
    heartbeats_estimated: float = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def per(self, items: float) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) / max(items, 1) for f in fields(self)})

    @property
    def actions(self) -> float:
        """Billable Actions as Temporal Cloud counts them from histories (heartbeats apart)."""
        return (
            self.starts
            + 2 * self.children
            + (self.signals - self.signal_with_starts)
            + self.updates
            + self.timers
            + self.activities
            + self.activity_retries
            + self.local_activity_tasks
            + self.local_activity_retries
            + (self.upserts - self.change_version_upserts)
            + self.options_updates
        )

    def breakdown(self) -> dict[str, float]:
        """The Actions by kind, as `actions` adds them up."""
        return {
            "starts": self.starts + 2 * self.children,
            "signals": self.signals - self.signal_with_starts,
            "updates": self.updates,
            "timers": self.timers,
            "activities": self.activities + self.activity_retries,
            "local activity tasks": self.local_activity_tasks + self.local_activity_retries,
            "upserts": self.upserts - self.change_version_upserts,
            "options updates": self.options_updates,
        }


def _seconds(stamp: datetime | None) -> float | None:
    return stamp.timestamp() if stamp is not None else None


def count(events: Iterable[HistoryEvent], *, since: datetime | None = None, until: datetime | None = None) -> Counts:
    """Count one run's history (or the part of it between `since` and `until`, by event time:
    a long-lived run's share of what happened in a window, as the governor's)."""
    start, end = _seconds(since), _seconds(until)
    c = Counts()
    marker_tasks: set[int] = set()
    heartbeat_timeouts: dict[int, float] = {}  # scheduled event id -> heartbeat timeout (s)
    started_at: dict[int, float] = {}  # scheduled event id -> started time
    previous = E.EVENT_TYPE_UNSPECIFIED
    for event in events:
        at = event.event_time.ToDatetime().timestamp() if event.HasField("event_time") else None
        if at is not None and ((start is not None and at < start) or (end is not None and at > end)):
            previous = event.event_type
            continue
        kind = event.event_type
        c.events += 1
        c.history_bytes += event.ByteSize()
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            c.runs += 1
            attrs = event.workflow_execution_started_event_attributes
            if not attrs.HasField("parent_workflow_execution"):  # a child's start counts on its parent
                c.starts += 1
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            c.signals += 1
            if previous == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:  # written with the start: Signal-With-Start
                c.signal_with_starts += 1
        elif kind in (
            E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            E.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        ):
            c.workflow_tasks += 1
            if kind == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                metering = event.workflow_task_completed_event_attributes.metering_metadata
                c.local_activity_retries += metering.nonfirst_local_activity_execution_attempts
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            c.activities += 1
            timeout = event.activity_task_scheduled_event_attributes.heartbeat_timeout.ToTimedelta()
            if timeout.total_seconds() > 0:
                heartbeat_timeouts[event.event_id] = timeout.total_seconds()
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs_started = event.activity_task_started_event_attributes
            c.activity_retries += max(0, attrs_started.attempt - 1)
            if at is not None:
                started_at[attrs_started.scheduled_event_id] = at
        elif kind in (
            E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        ):
            scheduled = _scheduled_event_id(event)
            if scheduled in heartbeat_timeouts and scheduled in started_at and at is not None:
                every = HEARTBEAT_THROTTLE * heartbeat_timeouts[scheduled]
                c.heartbeats_estimated += 1 + int((at - started_at[scheduled]) // every)
        elif kind == E.EVENT_TYPE_MARKER_RECORDED:
            attrs_marker = event.marker_recorded_event_attributes
            if attrs_marker.marker_name == LOCAL_ACTIVITY_MARKER:
                c.local_activities += 1
                marker_tasks.add(attrs_marker.workflow_task_completed_event_id)
            elif attrs_marker.marker_name == PATCH_MARKER:
                c.patch_markers += 1
        elif kind == E.EVENT_TYPE_TIMER_STARTED:
            c.timers += 1
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            c.updates += 1
        elif kind == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            c.upserts += 1
            names = set(event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
            if names <= {CHANGE_VERSION}:
                c.change_version_upserts += 1
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            c.continued_as_new += 1
        elif kind == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            c.children += 1
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
            c.options_updates += 1
        previous = kind
    c.local_activity_tasks = len(marker_tasks)
    return c


def _scheduled_event_id(event: HistoryEvent) -> int:
    if event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        return int(event.activity_task_completed_event_attributes.scheduled_event_id)
    if event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        return int(event.activity_task_failed_event_attributes.scheduled_event_id)
    return int(event.activity_task_timed_out_event_attributes.scheduled_event_id)


def total(histories: Iterable[Iterable[HistoryEvent]]) -> Counts:
    result = Counts()
    for events in histories:
        result = result + count(events)
    return result


def cost(actions: float, items: int = 10_000, price_per_million: float = PRICE_PER_MILLION) -> float:
    """Dollars for `items` of something that costs `actions` Actions each."""
    return actions * items * price_per_million / 1_000_000
