"""Request limits: body size, JSON only, nesting depth, per-source rate."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from gateway.errors import GatewayError


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused at `limit` bytes whether or not Content-Length told the truth."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise GatewayError(413, "too_large", f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, "too_large", f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def require_json(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise GatewayError(415, "unsupported_media_type", "send Content-Type: application/json")


def parse_json(body: bytes, max_depth: int) -> Any:
    if not body.strip():
        raise GatewayError(400, "malformed", "empty body")
    _check_depth(body, max_depth)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise GatewayError(400, "malformed", f"invalid JSON: {type(exc).__name__}") from None


def _check_depth(body: bytes, max_depth: int) -> None:
    """Count nesting before parsing, so a hostile body never reaches the parser's recursion."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > max_depth:
                raise GatewayError(400, "too_deep", f"JSON nested deeper than {max_depth} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1


@dataclass
class TokenBucket:
    """Per-process rate limit. Several gateways behind a balancer each allow this rate."""

    per_second: float
    burst: int
    tokens: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> float | None:
        """None when allowed; otherwise seconds until a token is free."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.per_second
