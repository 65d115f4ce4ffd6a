"""The history analyser counts what Temporal Cloud bills (bench/actions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from bench import actions

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
E = EventType


def event(event_id: int, kind: int, seconds: float = 0, **attributes: Any) -> HistoryEvent:
    e = HistoryEvent(event_id=event_id, event_type=kind, **attributes)  # type: ignore[arg-type]
    e.event_time.FromDatetime(T0 + timedelta(seconds=seconds))
    return e


def workflow_task(first_id: int, seconds: float = 0, la_retries: int = 0) -> list[HistoryEvent]:
    done = event(first_id + 2, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, seconds)
    done.workflow_task_completed_event_attributes.metering_metadata.nonfirst_local_activity_execution_attempts = (
        la_retries
    )
    return [
        event(first_id, E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, seconds),
        event(first_id + 1, E.EVENT_TYPE_WORKFLOW_TASK_STARTED, seconds),
        done,
    ]


def marker(event_id: int, name: str, task: int) -> HistoryEvent:
    e = event(event_id, E.EVENT_TYPE_MARKER_RECORDED)
    e.marker_recorded_event_attributes.marker_name = name
    e.marker_recorded_event_attributes.workflow_task_completed_event_id = task
    return e


def upsert(event_id: int, *names: str) -> HistoryEvent:
    e = event(event_id, E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
    for name in names:
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields[name].data = b'"x"'
    return e


def test_a_recorded_investigation_counts_as_cloud_bills_it() -> None:
    """tests/histories/v6-...-InvestigationWorkflow-1.json, counted by hand: started by a
    Signal-With-Start (one Action for both events), 4 workflow tasks, 3 activities, local
    activities in 2 tasks, 1 patch marker, 4 upserts of which one only TemporalChangeVersion,
    the quiet-period timer."""
    path = HISTORIES / "v6-local-dispatch-lean-decisions-InvestigationWorkflow-1.json"
    counts = actions.count(WorkflowHistory.from_json(path.stem, path.read_text()).events)
    assert (counts.events, counts.workflow_tasks, counts.activities) == (31, 4, 3)
    assert (counts.local_activities, counts.local_activity_tasks, counts.patch_markers) == (2, 2, 1)
    assert (counts.upserts, counts.change_version_upserts, counts.timers) == (4, 1, 1)
    assert (counts.starts, counts.signals, counts.signal_with_starts) == (1, 1, 1)
    assert counts.actions == 1 + 0 + 1 + 3 + 2 + 3
    assert sum(counts.breakdown().values()) == counts.actions


def test_markers_of_one_task_are_one_action_and_retries_add() -> None:
    history = [
        event(1, E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        *workflow_task(2, la_retries=2),
        marker(5, actions.LOCAL_ACTIVITY_MARKER, 4),
        marker(6, actions.LOCAL_ACTIVITY_MARKER, 4),
        marker(7, actions.PATCH_MARKER, 4),
        upsert(8, actions.CHANGE_VERSION),
        upsert(9, "RiposteStage", actions.CHANGE_VERSION),
        event(10, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
    ]
    started = event(11, E.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    started.activity_task_started_event_attributes.attempt = 3
    history.append(started)
    counts = actions.count(history)
    assert counts.local_activities == 2
    assert counts.local_activity_tasks == 1
    assert counts.local_activity_retries == 2
    assert counts.change_version_upserts == 1
    assert counts.activity_retries == 2
    # start 1, local activities 1 task + 2 retries, 1 upsert (the other is the version's), activity 1 + 2 retries
    assert counts.actions == 1 + 3 + 1 + 3


def test_signals_updates_timers_and_children() -> None:
    child = event(1, E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    child.workflow_execution_started_event_attributes.parent_workflow_execution.workflow_id = "parent"
    history = [
        child,  # started by a parent: billed there
        *workflow_task(2),
        event(5, E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),  # not with the start: one Action
        event(6, E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
        event(7, E.EVENT_TYPE_TIMER_STARTED),
        event(8, E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
        event(9, E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW),
    ]
    counts = actions.count(history)
    assert (counts.starts, counts.signals, counts.signal_with_starts) == (0, 1, 0)
    assert counts.actions == 0 + 1 + 1 + 1 + 2
    assert counts.continued_as_new == 1


def test_a_window_takes_a_long_run_s_share() -> None:
    history = [
        event(1, E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 0),
        *workflow_task(2, 0),
        event(5, E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, 10),
        *workflow_task(6, 10),
        event(9, E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, 20),
    ]
    counts = actions.count(history, since=T0 + timedelta(seconds=5), until=T0 + timedelta(seconds=15))
    assert (counts.events, counts.updates, counts.workflow_tasks, counts.starts) == (4, 1, 1, 0)


def test_heartbeats_are_estimated_from_the_activity_s_duration() -> None:
    scheduled = event(5, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, 0)
    scheduled.activity_task_scheduled_event_attributes.heartbeat_timeout.FromTimedelta(timedelta(seconds=20))
    started = event(6, E.EVENT_TYPE_ACTIVITY_TASK_STARTED, 1)
    started.activity_task_started_event_attributes.scheduled_event_id = 5
    started.activity_task_started_event_attributes.attempt = 1
    done = event(7, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, 41)  # 40 s: the first at once, then one per 16 s
    done.activity_task_completed_event_attributes.scheduled_event_id = 5
    counts = actions.count([scheduled, started, done])
    assert counts.heartbeats_estimated == 3
    assert counts.actions == 1  # kept apart


def test_sums_per_item_and_cost() -> None:
    one = actions.Counts(starts=1, activities=3)
    assert (one + one).per(2).actions == 4
    assert actions.cost(4) == pytest.approx(2.0)  # 40,000 Actions at $50 per million
    assert actions.cost(4, price_per_million=25) == pytest.approx(1.0)
