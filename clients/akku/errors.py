"""Akku failures as a taxonomy: callers branch on the class (or `.retryable`), never on text.

No message ever carries the API key: errors are built from the status, Akku's error code
and the request's method and path only.
"""

from __future__ import annotations


class AkkuError(Exception):
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after: float | None = None


class AkkuAuthError(AkkuError):
    """401/403: the API key is wrong or lacks the permission (fix AKKU_API_KEY)."""


class AkkuNotFound(AkkuError):
    """404: typically an unknown actor. Data, not a crash."""


class AkkuConflict(AkkuError):
    """409."""


class AkkuBadRequest(AkkuError):
    """400/422: Riposte sent something Akku refuses; retrying cannot help."""


class AkkuRateLimited(AkkuError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None, status: int = 429, code: str | None = None) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class AkkuServerError(AkkuError):
    """5xx, and 408 Request Timeout."""

    retryable = True


class AkkuUnavailable(AkkuError):
    """Timeouts, refused or dropped connections."""

    retryable = True


class AkkuProtocolError(AkkuError):
    """A 2xx whose body is not JSON or not the contract's shape (a proxy hiccup is likely)."""

    retryable = True


def for_status(status: int, message: str, code: str | None, retry_after: float | None) -> AkkuError:
    if status == 429:
        return AkkuRateLimited(message, retry_after=retry_after, code=code)
    if status in (401, 403):
        hint = (
            "the Akku API key is wrong or expired (AKKU_API_KEY)" if status == 401 else "the API key lacks permission"
        )
        return AkkuAuthError(f"{message}: {hint}", status=status, code=code)
    if status == 404:
        return AkkuNotFound(message, status=status, code=code)
    if status == 409:
        return AkkuConflict(message, status=status, code=code)
    if status >= 500 or status == 408:  # 408: the server timed the request out; trying again is right
        return AkkuServerError(message, status=status, code=code)
    return AkkuBadRequest(message, status=status, code=code)
