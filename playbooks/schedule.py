"""An approval request's schedule: reminder, escalation to a second channel, deadline.

Pure functions of the playbook's `approval:` settings and the time: the workflow asks
`next_wake` how long to wait and `due` what to do when it wakes, and records what it did
with `after_reminder` / `after_escalation`. Unit-tested without Temporal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from riposte.models.playbook import Approval

MIN_WAIT = timedelta(seconds=1)  # never a zero timer: a wake-up always moves time on


@dataclass(frozen=True)
class Schedule:
    started: datetime
    deadline: datetime | None  # None: wait for a person however long it takes
    remind_at: datetime | None
    escalate_at: datetime | None
    reminded: bool = False
    escalated: bool = False


@dataclass(frozen=True)
class Due:
    expired: bool = False  # the deadline passed: nothing else happens, the run concludes
    remind: bool = False
    escalate: bool = False


def opened(policy: Approval, started: datetime) -> Schedule:
    return Schedule(
        started=started,
        deadline=None if policy.on_timeout == "keep_waiting" else started + policy.timeout,
        remind_at=started + policy.remind_after if policy.remind_after else None,
        escalate_at=started + policy.escalate_after if policy.escalate_channel and policy.escalate_after else None,
    )


def next_wake(schedule: Schedule) -> datetime | None:
    """The earliest moment something is due; None when nothing ever is (wait for a person)."""
    ticks = [t for t in (schedule.deadline,) if t is not None]
    if schedule.remind_at and not schedule.reminded:
        ticks.append(schedule.remind_at)
    if schedule.escalate_at and not schedule.escalated:
        ticks.append(schedule.escalate_at)
    return min(ticks) if ticks else None


def wait_for(schedule: Schedule, now: datetime) -> timedelta | None:
    """How long to wait from `now` (at least MIN_WAIT); None: no timer at all."""
    wake = next_wake(schedule)
    return max(wake - now, MIN_WAIT) if wake else None


def due(schedule: Schedule, now: datetime) -> Due:
    if schedule.deadline is not None and now >= schedule.deadline:
        return Due(expired=True)
    return Due(
        remind=bool(schedule.remind_at and not schedule.reminded and now >= schedule.remind_at),
        escalate=bool(schedule.escalate_at and not schedule.escalated and now >= schedule.escalate_at),
    )


def after_reminder(schedule: Schedule, now: datetime, *, delivered: bool, retry_after: timedelta | None) -> Schedule:
    """A reminder went out. If the request never reached Slack (down at the ask and at the
    reminder), try again `retry_after` later (`None`: no second try)."""
    if not delivered and retry_after:
        return replace(schedule, reminded=False, remind_at=now + retry_after)
    return replace(schedule, reminded=True)


def after_escalation(schedule: Schedule) -> Schedule:
    return replace(schedule, escalated=True)


def without_deadline(schedule: Schedule) -> Schedule:
    """Keep waiting for a person: the deadline passed, but nothing may happen without one."""
    return replace(schedule, deadline=None)
