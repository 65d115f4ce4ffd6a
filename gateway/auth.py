"""Who may POST alerts: a bearer token, Splunk's `?token=`, or a Standard Webhooks signature.

Comparisons are constant-time; no token or signature ever reaches a log line or an answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from fastapi import Request

from gateway.errors import GatewayError
from riposte.settings import Settings

TOLERANCE_SECONDS = 5 * 60  # Standard Webhooks: +-5 minutes


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _unauthorised(reason: str) -> GatewayError:
    return GatewayError(401, "unauthorized", reason, headers={"WWW-Authenticate": "Bearer"})


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def check_token(request: Request, settings: Settings, source: str, *, allow_query: bool) -> None:
    """Bearer header (or `?token=` where the sender cannot set headers, i.e. Splunk).

    The source's own tokens (RIPOSTE_WEBHOOK_TOKEN_<SOURCE>) or else the shared ones; every
    configured value is compared, so a rotation's old and new tokens both work meanwhile.
    """
    given = bearer(request)
    if given is None and allow_query:
        given = request.query_params.get("token")
    if given is None:
        raise _unauthorised("missing credentials")
    matches = [_equal(given, expected) for expected in settings.webhook_tokens(source)]
    if not any(matches):
        raise _unauthorised("invalid credentials")


def has_signature(request: Request) -> bool:
    return "webhook-signature" in request.headers


def check_signature(request: Request, body: bytes, settings: Settings, *, now: float | None = None) -> str:
    """Standard Webhooks v1 (HMAC-SHA256 over `id.timestamp.body`); returns the message id."""
    msg_id = request.headers.get("webhook-id")
    stamp = request.headers.get("webhook-timestamp")
    header = request.headers.get("webhook-signature", "")
    if not msg_id or not stamp or not header:
        raise _unauthorised("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(stamp)
    except ValueError:
        raise _unauthorised("webhook-timestamp is not an integer") from None
    if abs((now if now is not None else time.time()) - sent) > TOLERANCE_SECONDS:
        raise _unauthorised("webhook-timestamp outside the 5-minute window")
    if not settings.riposte_webhook_secret:
        raise _unauthorised("signatures are not configured (RIPOSTE_WEBHOOK_SECRET)")
    signed = f"{msg_id}.{sent}.".encode() + body
    offered = [part.split(",", 1)[1] for part in header.split() if part.startswith("v1,")]
    for secret in settings.riposte_webhook_secret:
        key = _secret_bytes(secret.get_secret_value())
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(_equal(sig, expected) for sig in offered):
            return msg_id
    raise _unauthorised("no matching signature")


def _secret_bytes(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers a Standard Webhooks sender attaches (for clients, tests and the demo)."""
    key = _secret_bytes(secret)
    signature = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature.decode()}"}
