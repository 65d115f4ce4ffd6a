"""Async client for the Akku IAM API (docs/akku.md), on httpx.

tenacity retries a call a few times within seconds (429 after its Retry-After when that is
short, 5xx, timeouts, dropped connections, unreadable bodies); anything longer is the
outer loop's job: Temporal's retry policy, which the activities feed with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from clients.akku import adapter as api
from clients.akku.errors import AkkuError, AkkuProtocolError, AkkuRateLimited, AkkuUnavailable, for_status
from clients.akku.models import (
    ActionResponse,
    AuditEvent,
    AuditPage,
    AuthEvent,
    BatchQueryResult,
    ErrorEnvelope,
    EventPage,
    LoginMetrics,
    User,
    UserList,
    UsersBatch,
)
from riposte.models.actions import ActionRequest, ActionResult
from riposte.models.common import ActionKind
from riposte.settings import Settings

log = logging.getLogger("riposte.akku")
B = TypeVar("B", bound=BaseModel)
R = TypeVar("R")

RETRY_AFTER_CAP = 5.0  # wait in-call for a Retry-After up to this; longer goes back to Temporal
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MESSAGE_CAP = 300  # characters of Akku's error message kept in ours


class _WaitRetryAfter(wait_base):
    """Honour Retry-After exactly; otherwise a short jittered backoff."""

    def __init__(self) -> None:
        self._backoff = wait_random_exponential(multiplier=0.2, max=2.0)

    def __call__(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, AkkuRateLimited) and exc.retry_after is not None:
            return float(exc.retry_after)
        return float(self._backoff(retry_state))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, AkkuRateLimited):
        return exc.retry_after is None or exc.retry_after <= RETRY_AFTER_CAP
    return isinstance(exc, AkkuError) and exc.retryable


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get(api.RETRY_AFTER_HEADER)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    """Akku's error code and message from `{"error": {"code", "message"}}`, tolerating other bodies."""
    try:
        envelope = ErrorEnvelope.model_validate_json(response.content)
    except ValidationError:
        return None, response.reason_phrase
    return envelope.error.code, envelope.error.message[:MESSAGE_CAP]


class AkkuClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        max_attempts: int = 3,
        concurrency: int = 4,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self._attempts = max_attempts
        self.concurrency = concurrency

    @classmethod
    def from_settings(cls, settings: Settings) -> AkkuClient:
        return cls(settings.akku_base_url, settings.akku_api_key.get_secret_value())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:  # never the headers: they carry the key
        return f"AkkuClient({self._http.base_url})"

    # --- transport ------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        model: type[B],
        *,
        params: Any = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> B:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=_WaitRetryAfter(),
            retry=retry_if_exception(_retryable),
            reraise=True,
        ):
            with attempt:
                return await self._once(method, path, model, params=params, body=body, headers=headers)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self, method: str, path: str, model: type[B], *, params: Any, body: Any, headers: dict[str, str] | None
    ) -> B:
        what = f"{method} {path}"
        try:
            response = await self._http.request(method, path, params=params, json=body, headers=headers)
        except httpx.TimeoutException:
            raise AkkuUnavailable(f"{what}: Akku did not answer in time") from None
        except httpx.TransportError as exc:
            raise AkkuUnavailable(f"{what}: connection failed ({type(exc).__name__})") from None
        if response.status_code >= 400:
            code, message = _error_of(response)
            raise for_status(
                response.status_code, f"{what}: {response.status_code} {message}", code, _retry_after(response)
            )
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise AkkuProtocolError(f"{what}: unreadable answer ({exc.error_count()} problems)", status=200) from None

    # --- events ---------------------------------------------------------------------------

    async def events_page(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        event_types: Sequence[str] = (),
        actor_ids: Sequence[str] = (),
        source_ips: Sequence[str] = (),
        limit: int = api.PAGE_LIMIT_DEFAULT,
        cursor: str | None = None,
    ) -> EventPage:
        params: list[tuple[str, str]] = [(api.P_SINCE, api.timestamp(since)), (api.P_LIMIT, str(limit))]
        if until is not None:
            params.append((api.P_UNTIL, api.timestamp(until)))
        params += [(api.P_EVENT_TYPE, t) for t in event_types]
        params += [(api.P_ACTOR_ID, a) for a in actor_ids]
        params += [(api.P_SOURCE_IP, ip) for ip in source_ips]
        if cursor:
            params.append((api.P_CURSOR, cursor))
        return await self._request("GET", api.AUTH_EVENTS, EventPage, params=params)

    async def iter_events(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        limit: int = api.PAGE_LIMIT_MAX,
        **filters: Sequence[str],
    ) -> AsyncIterator[AuthEvent]:
        """Every event matching the filters of `events_page` (event_types, actor_ids, source_ips), page by page."""
        cursor: str | None = None
        while True:
            page = await self.events_page(since, until, limit=limit, cursor=cursor, **filters)
            for event in page.events:
                yield event
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def stream_events(self, since: datetime, event_types: Sequence[str] = ()) -> AsyncIterator[AuthEvent]:
        """The NDJSON stream, heartbeats skipped; ends when Akku closes it.

        Not retried here (a reconnect must resume from the last event's timestamp, which only
        the caller knows): failures surface as the taxonomy's retryable classes.
        """
        what = f"GET {api.AUTH_EVENTS_STREAM}"
        pairs: list[tuple[str, str | int | float | bool | None]] = [(api.P_SINCE, api.timestamp(since))]
        pairs += [(api.P_EVENT_TYPE, t) for t in event_types]
        # no read timeout: heartbeats arrive only every 15 s and the stream lasts as long as it lasts
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            async with self._http.stream(
                "GET", api.AUTH_EVENTS_STREAM, params=httpx.QueryParams(pairs), timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    code, message = _error_of(response)
                    raise for_status(
                        response.status_code,
                        f"{what}: {response.status_code} {message}",
                        code,
                        _retry_after(response),
                    )
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        data = json.loads(line)
                        if isinstance(data, dict) and api.HEARTBEAT in data:
                            continue
                        event = AuthEvent.model_validate(data)
                    except (ValueError, ValidationError):
                        raise AkkuProtocolError(f"{what}: unreadable line in the stream", status=200) from None
                    yield event
        except httpx.TimeoutException:
            raise AkkuUnavailable(f"{what}: Akku did not answer in time") from None
        except httpx.TransportError as exc:
            raise AkkuUnavailable(f"{what}: connection failed ({type(exc).__name__})") from None

    async def query_events(
        self,
        actor_ids: Sequence[str],
        since: datetime,
        until: datetime | None = None,
        event_types: Sequence[str] | None = None,
    ) -> BatchQueryResult:
        if len(actor_ids) > api.BATCH_LIMIT:
            raise ValueError(f"at most {api.BATCH_LIMIT} actor ids per batch query (use query_events_many)")
        body = {
            "actor_ids": list(actor_ids),
            "since": api.timestamp(since),
            "until": api.timestamp(until) if until else None,
            "event_types": list(event_types) if event_types else None,
        }
        return await self._request("POST", api.AUTH_EVENTS_QUERY, BatchQueryResult, body=body)

    async def query_events_many(
        self,
        actor_ids: Sequence[str],
        since: datetime,
        until: datetime | None = None,
        event_types: Sequence[str] | None = None,
    ) -> BatchQueryResult:
        """Any number of actors: batches of 100, a few in flight at once, merged."""
        parts = await self._batched(actor_ids, lambda ids: self.query_events(ids, since, until, event_types))
        results = {k: v for part in parts for k, v in part.results.items()}
        unknown = [a for part in parts for a in part.unknown_actor_ids]
        return BatchQueryResult(results=results, unknown_actor_ids=unknown)

    # --- users ----------------------------------------------------------------------------

    async def get_user(self, actor_id: str) -> User:
        return await self._request("GET", api.user_path(actor_id), User)

    async def find_users(self, *, email: str | None = None, login: str | None = None) -> list[User]:
        if (email is None) == (login is None):
            raise ValueError("give exactly one of email or login")
        params = {api.P_EMAIL: email} if email is not None else {api.P_LOGIN: login}
        return (await self._request("GET", api.USERS, UserList, params=params)).users

    async def users_batch(self, actor_ids: Sequence[str]) -> UsersBatch:
        if len(actor_ids) > api.BATCH_LIMIT:
            raise ValueError(f"at most {api.BATCH_LIMIT} actor ids per batch (use users_many)")
        return await self._request("POST", api.USERS_BATCH, UsersBatch, body={"actor_ids": list(actor_ids)})

    async def users_many(self, actor_ids: Sequence[str]) -> UsersBatch:
        parts = await self._batched(actor_ids, self.users_batch)
        return UsersBatch(
            users={k: v for p in parts for k, v in p.users.items()},
            unknown_actor_ids=[a for p in parts for a in p.unknown_actor_ids],
        )

    # --- actions --------------------------------------------------------------------------

    async def act(
        self,
        actor_id: str,
        action: ActionKind,
        *,
        reason: str,
        reference: str,
        idempotency_key: str,
        role: str | None = None,
    ) -> ActionResponse:
        body: dict[str, Any] = {"reason": reason, "reference": reference}
        if action is ActionKind.REVOKE_ROLE:
            if not role:
                raise ValueError("revoke_role needs the role")
            body["role"] = role
        return await self._request(
            "POST",
            api.action_path(actor_id, action),
            ActionResponse,
            body=body,
            headers={api.IDEMPOTENCY_HEADER: idempotency_key},
        )

    async def apply(self, request: ActionRequest) -> ActionResult:
        answer = await self.act(
            request.actor_id,
            request.action,
            reason=request.reason,
            reference=request.reference,
            idempotency_key=request.idempotency_key,
            role=request.role,
        )
        return ActionResult(actor_id=request.actor_id, action=request.action, status=answer.status, user=answer.user)

    # --- audit and metrics ----------------------------------------------------------------

    async def audit_events(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        actor_id: str | None = None,
        action: str | None = None,
        limit: int = api.PAGE_LIMIT_MAX,
    ) -> AsyncIterator[AuditEvent]:
        cursor: str | None = None
        while True:
            params: dict[str, str] = {api.P_SINCE: api.timestamp(since), api.P_LIMIT: str(limit)}
            if until is not None:
                params[api.P_UNTIL] = api.timestamp(until)
            if actor_id:
                params[api.P_ACTOR_ID] = actor_id
            if action:
                params[api.P_ACTION] = action
            if cursor:
                params[api.P_CURSOR] = cursor
            page = await self._request("GET", api.AUDIT_EVENTS, AuditPage, params=params)
            for event in page.events:
                yield event
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def login_metrics(self, window: str = "24h") -> LoginMetrics:
        return await self._request("GET", api.LOGIN_METRICS, LoginMetrics, params={api.P_WINDOW: window})

    # --- helpers --------------------------------------------------------------------------

    async def _batched(self, ids: Sequence[str], call: Callable[[list[str]], Awaitable[R]]) -> list[R]:
        """Unique ids in chunks of 100, at most `concurrency` calls in flight, results in chunk order."""
        unique = list(dict.fromkeys(ids))
        gate = asyncio.Semaphore(self.concurrency)

        async def one(chunk: list[str]) -> R:
            async with gate:
                return await call(chunk)

        chunks = [unique[i : i + api.BATCH_LIMIT] for i in range(0, len(unique), api.BATCH_LIMIT)]
        return list(await asyncio.gather(*(one(c) for c in chunks)))
