"""Every retry policy, once, by name. Activities raise typed ApplicationErrors; these decide the rest."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# error types that retrying cannot fix (raised by activities/akku.py and activities/slack.py)
AKKU_PERMANENT = ["AkkuAuthError", "AkkuBadRequest", "AkkuConflict", "AkkuNotFound"]
SLACK_PERMANENT = ["SlackConfigError"]

AKKU_READ = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=AKKU_PERMANENT,
)
# A write is safe to retry (Idempotency-Key); bounded so that a lasting outage ends in an
# explained failure that the investigation escalates to a person.
AKKU_WRITE = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
    non_retryable_error_types=AKKU_PERMANENT,
)
DISPATCH = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=20,
    non_retryable_error_types=AKKU_PERMANENT,
)
GOVERNOR = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=10), maximum_attempts=20
)
SLACK_POST = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
    non_retryable_error_types=SLACK_PERMANENT,
)
SLACK_NOTIFY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=4,
    non_retryable_error_types=SLACK_PERMANENT,
)
