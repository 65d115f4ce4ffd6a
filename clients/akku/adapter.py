"""Every path, header and field name of the Akku API contract, in one place.

A change on Akku's side is one edit here; the client and the simulator both use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from riposte.models.common import ActionKind

AUTH_EVENTS = "/v1/auth-events"
AUTH_EVENTS_STREAM = "/v1/auth-events/stream"
AUTH_EVENTS_QUERY = "/v1/auth-events/query"
USERS = "/v1/users"
USERS_BATCH = "/v1/users/batch"
AUDIT_EVENTS = "/v1/audit-events"
LOGIN_METRICS = "/v1/login-metrics"

IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRY_AFTER_HEADER = "Retry-After"
NDJSON = "application/x-ndjson"
HEARTBEAT = "heartbeat"  # the stream's keep-alive line: {"heartbeat": "<timestamp>"}

BATCH_LIMIT = 100  # actor ids per batch call
EVENTS_PER_ACTOR = 500  # batch query: newest first, `truncated` beyond
PAGE_LIMIT_MAX = 1000
PAGE_LIMIT_DEFAULT = 100

# query parameter names
P_SINCE, P_UNTIL, P_LIMIT, P_CURSOR = "since", "until", "limit", "cursor"
P_EVENT_TYPE, P_ACTOR_ID, P_SOURCE_IP = "event_type", "actor_id", "source_ip"
P_EMAIL, P_LOGIN, P_ACTION, P_WINDOW = "email", "login", "action", "window"

ACTION_PATHS: dict[ActionKind, str] = {
    ActionKind.LOCK: "lock",
    ActionKind.UNLOCK: "unlock",
    ActionKind.FORCE_PASSWORD_RESET: "password-reset",
    ActionKind.REVOKE_SESSIONS: "sessions/revoke",
    ActionKind.RESET_MFA: "mfa/reset",
    ActionKind.REVOKE_ROLE: "roles/revoke",
}
# the `action` field in Akku's answers
ACTION_NAMES: dict[ActionKind, str] = {
    ActionKind.LOCK: "lock",
    ActionKind.UNLOCK: "unlock",
    ActionKind.FORCE_PASSWORD_RESET: "password_reset",
    ActionKind.REVOKE_SESSIONS: "sessions_revoke",
    ActionKind.RESET_MFA: "mfa_reset",
    ActionKind.REVOKE_ROLE: "role_revoke",
}


def user_path(actor_id: str) -> str:
    """The user's path, the id one percent-encoded segment: `/`, `?`, `#` and `%` stay inside it, and
    `.` or `..` are sent as `%2E` (URL parsers resolve a literal dot segment away, so `..` + `/lock`
    would otherwise become `/v1/lock`, and `.` would address the user called `lock`)."""
    segment = quote(actor_id, safe="")
    if segment.strip(".") == "":
        segment = segment.replace(".", "%2E")
    return f"{USERS}/{segment}"


def action_path(actor_id: str, action: ActionKind) -> str:
    return f"{user_path(actor_id)}/{ACTION_PATHS[action]}"


def timestamp(value: datetime) -> str:
    """ISO 8601 UTC with millisecond precision: 2026-11-21T09:14:03.127Z. Naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
