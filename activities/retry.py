"""Every retry policy, once, by name. Activities raise typed ApplicationErrors; these decide the rest."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# error types that retrying cannot fix (raised by activities/akku.py and activities/slack.py)
AKKU_PERMANENT = ["AkkuAuthError", "AkkuBadRequest", "AkkuConflict", "AkkuNotFound"]
SLACK_PERMANENT = ["SlackConfigError"]


def _backoff(*, max_interval: float, attempts: int, permanent: list[str] | None = None) -> RetryPolicy:
    """Exponential from 1 s, doubling, capped; bounded attempts so a lasting outage ends in an explained failure."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=max_interval),
        maximum_attempts=attempts,
        non_retryable_error_types=permanent or [],
    )


AKKU_READ = _backoff(max_interval=30, attempts=10, permanent=AKKU_PERMANENT)
# A write is safe to retry (Idempotency-Key); bounded so that a lasting outage ends in an
# explained failure recorded on the decision.
AKKU_WRITE = _backoff(max_interval=30, attempts=8, permanent=AKKU_PERMANENT)
DISPATCH = _backoff(max_interval=60, attempts=20, permanent=AKKU_PERMANENT)
GOVERNOR = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=10), maximum_attempts=20
)
SLACK_POST = _backoff(max_interval=30, attempts=6, permanent=SLACK_PERMANENT)
SLACK_NOTIFY = _backoff(max_interval=30, attempts=4, permanent=SLACK_PERMANENT)

# A pure step (scoring) fails the same way every time: a few attempts, then the run fails visibly
# (Temporal keeps the workflow task failing and the UI shows why) instead of retrying forever.
SCORING = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)

# How long one attempt may take, beside the policies that retry it.
AKKU_WRITE_TIMEOUT = timedelta(seconds=30)
GOVERNOR_TIMEOUT = timedelta(seconds=30)
SLACK_TIMEOUT = timedelta(seconds=30)
SCORING_TIMEOUT = timedelta(seconds=10)
RESOLVE_TIMEOUT = timedelta(minutes=2)
READ_HEARTBEAT = timedelta(seconds=30)
IP_ACTIVITY_TIMEOUT = timedelta(minutes=5)
DISPATCH_TIMEOUT = timedelta(minutes=5)
DISPATCH_HEARTBEAT = timedelta(seconds=20)

# A local activity holds its workflow task, and a stopping worker waits for it: each local step
# gets this long in all, retries included, before its workflow falls back to an activity.
LOCAL_BUDGET = timedelta(seconds=5)
# an alert about at most this many people runs its steps as local activities (its reads and dispatch;
# its investigations' permits and writes): a storm's stay activities, so thousands of workflow tasks
# never hold local activities at once
LOCAL_MAX_PEOPLE = 20
