"""The approval schedule: a pure function of the playbook's `approval:` settings and the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playbooks import schedule
from riposte.models.playbook import Approval

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = Approval(
    timeout=timedelta(minutes=30),
    remind_after=timedelta(minutes=10),
    escalate_after=timedelta(minutes=15),
    escalate_channel="C0LEADS",
)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def test_the_first_wake_is_the_reminder_then_the_escalation_then_the_deadline() -> None:
    s = schedule.opened(POLICY, T0)
    assert schedule.next_wake(s) == minutes(10)
    assert schedule.due(s, minutes(10)) == schedule.Due(remind=True)
    s = schedule.after_reminder(s, minutes(10), delivered=True, retry_after=POLICY.remind_after)
    assert schedule.next_wake(s) == minutes(15)
    assert schedule.due(s, minutes(15)) == schedule.Due(escalate=True)
    s = schedule.after_escalation(s)
    assert schedule.next_wake(s) == minutes(30)
    assert schedule.due(s, minutes(30)) == schedule.Due(expired=True)


def test_nothing_is_due_early_and_waits_are_never_zero() -> None:
    s = schedule.opened(POLICY, T0)
    assert schedule.due(s, minutes(9.9)) == schedule.Due()
    assert schedule.wait_for(s, minutes(9.9999)) == schedule.MIN_WAIT
    assert schedule.wait_for(s, T0) == timedelta(minutes=10)


def test_a_deadline_beats_whatever_else_is_due_at_the_same_moment() -> None:
    late = Approval(timeout=timedelta(minutes=5), remind_after=timedelta(minutes=5))
    s = schedule.opened(late, T0)
    assert schedule.due(s, minutes(5)) == schedule.Due(expired=True)


def test_an_undelivered_request_is_retried_one_reminder_later() -> None:
    s = schedule.opened(POLICY, T0)
    s = schedule.after_reminder(s, minutes(10), delivered=False, retry_after=POLICY.remind_after)
    assert not s.reminded and s.remind_at == minutes(20)
    assert schedule.next_wake(s) == minutes(15)  # the escalation comes first
    assert schedule.after_reminder(s, minutes(20), delivered=False, retry_after=None).reminded


def test_keep_waiting_has_no_deadline_and_without_deadline_drops_one() -> None:
    waiting = schedule.opened(POLICY.model_copy(update={"on_timeout": "keep_waiting", "remind_after": None}), T0)
    assert waiting.deadline is None and waiting.remind_at is None
    assert schedule.next_wake(waiting) == minutes(15)
    done = schedule.after_escalation(waiting)
    assert schedule.next_wake(done) is None and schedule.wait_for(done, minutes(40)) is None
    assert schedule.without_deadline(schedule.opened(POLICY, T0)).deadline is None


def test_no_escalation_without_a_second_channel() -> None:
    s = schedule.opened(POLICY.model_copy(update={"escalate_channel": None}), T0)
    assert s.escalate_at is None
    assert schedule.due(s, minutes(16)) == schedule.Due(remind=True)
