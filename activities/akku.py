"""Akku activities: identities resolved, evidence summarised, actions applied.

Evidence leaves here as compact summaries (riposte/models/evidence.py), never as raw
event lists, so histories stay small however noisy the attack. Akku's failures become
typed ApplicationErrors: the retry policies in activities/retry.py decide what is retried,
and a 429's Retry-After becomes the next retry's delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.akku.client import AkkuClient
from clients.akku.errors import AkkuError, AkkuNotFound
from clients.akku.models import FAILURE_TYPES, User
from playbooks.evidence import ROLE_ASSIGNED, admin_history, summarise
from riposte.models.actions import ActionRequest, ActionResult
from riposte.models.alert import IdentityKind
from riposte.models.enrichment import (
    EvidenceBatch,
    EvidenceRequest,
    IpActivityRequest,
    IpActivityResult,
    ResolveRequest,
    ResolveResult,
)
from riposte.models.evidence import (
    AdminHistory,
    IpStats,
    UserRecord,
)

T = TypeVar("T")
RESOLVE_CONCURRENCY = 8
IP_ACTORS_CAP = 5000
UNKNOWN_ACTOR = "unknown actor"


def heartbeat(*details: object) -> None:
    """Heartbeat when running as an activity; a no-op when called directly (tests, tools) or
    as a local activity (which Temporal does not heartbeat)."""
    with contextlib.suppress(RuntimeError):
        if not activity.info().is_local:
            activity.heartbeat(*details)


def application_error(err: AkkuError) -> ApplicationError:
    """The taxonomy as Temporal sees it: the class name is the type; Retry-After the next delay."""
    delay = timedelta(seconds=err.retry_after) if err.retry_after is not None else None
    return ApplicationError(
        err.message, type=type(err).__name__, non_retryable=not err.retryable, next_retry_delay=delay
    )


async def translated(call: Awaitable[T]) -> T:
    try:
        return await call
    except AkkuError as err:
        raise application_error(err) from None


def _record(user: User) -> UserRecord:
    return UserRecord.model_validate(user.model_dump())


# --- gathering (I/O) --------------------------------------------------------------------


async def gather_evidence(client: AkkuClient, request: EvidenceRequest) -> EvidenceBatch:
    """Users, events and (for admins) audit history of up to 100 actors: a handful of calls."""
    ids = list(dict.fromkeys(request.actor_ids))
    users, events = await asyncio.gather(
        client.users_many(ids), client.query_events_many(ids, request.since, request.until)
    )
    heartbeat("events read")
    unknown = sorted(set(users.unknown_actor_ids) | (set(events.unknown_actor_ids) - set(users.users)))
    histories: dict[str, AdminHistory] = {}
    if request.admin_history_days:
        days = request.admin_history_days
        start = request.until - timedelta(days=days)
        gate = asyncio.Semaphore(client.concurrency)

        async def history(actor_id: str) -> None:
            async with gate:
                audit = [
                    e async for e in client.audit_events(start, request.until, actor_id=actor_id, action=ROLE_ASSIGNED)
                ]
            histories[actor_id] = admin_history(audit, request.since, days)
            heartbeat("audit", actor_id)

        await asyncio.gather(*(history(a) for a in ids if a not in unknown))
    evidence = []
    for actor_id in ids:
        if actor_id in unknown:
            continue
        found = events.results.get(actor_id)
        user = users.users.get(actor_id)
        evidence.append(
            summarise(
                actor_id,
                _record(user) if user else None,
                list(found.events) if found else [],
                request.since,
                request.until,
                truncated=bool(found and found.truncated),
                admin=histories.get(actor_id),
            )
        )
    return EvidenceBatch(evidence=evidence, unknown_actor_ids=unknown)


class AkkuActivities:
    def __init__(self, client: AkkuClient) -> None:
        self._akku = client

    @activity.defn(name="Resolve SIEM identities in Akku")
    async def resolve_identities(self, request: ResolveRequest) -> ResolveResult:
        gate = asyncio.Semaphore(RESOLVE_CONCURRENCY)

        async def one(kind: IdentityKind, value: str) -> tuple[str, str | None]:
            async with gate:
                if kind is IdentityKind.AKKU_ID:
                    return value, value
                field = {"email": value} if kind is IdentityKind.EMAIL else {"login": value}
                users = await translated(self._akku.find_users(**field))
                return value, users[0].actor_id if len(users) == 1 else None

        pairs = await asyncio.gather(*(one(ref.kind, ref.value) for ref in request.refs))
        heartbeat(len(pairs))
        return ResolveResult(
            actor_ids={value: actor for value, actor in pairs if actor},
            unknown=[value for value, actor in pairs if not actor],
        )

    @activity.defn(name="Collect Akku evidence")
    async def collect_evidence(self, request: EvidenceRequest) -> EvidenceBatch:
        return await translated(gather_evidence(self._akku, request))

    @activity.defn(name="Summarise source-IP activity in Akku")
    async def ip_activity(self, request: IpActivityRequest) -> IpActivityResult:
        failures: Counter[str] = Counter()
        lockouts: Counter[str] = Counter()
        actors: defaultdict[str, set[str]] = defaultdict(set)
        touched: dict[str, None] = {}
        seen = 0
        stream = self._akku.iter_events(
            request.since,
            request.until,
            source_ips=request.ips,
            event_types=[*FAILURE_TYPES, "account.locked"],
        )
        try:
            async for event in stream:
                ip = event.source_ip or ""
                if event.event_type == "account.locked":
                    lockouts[ip] += 1
                else:
                    failures[ip] += 1
                actors[ip].add(event.actor_id)
                if len(touched) < IP_ACTORS_CAP:
                    touched[event.actor_id] = None
                seen += 1
                if seen % 1000 == 0:
                    heartbeat(seen)
        except AkkuError as err:
            raise application_error(err) from None
        stats = [
            IpStats(ip=ip, failures=failures[ip], distinct_actors=len(actors[ip]), lockouts=lockouts[ip])
            for ip in request.ips
            if ip in actors
        ]
        return IpActivityResult(stats=stats, actor_ids=list(touched))

    @activity.defn(name="Apply response action in Akku")
    async def apply_action(self, request: ActionRequest) -> ActionResult:
        try:
            return await self._akku.apply(request)
        except AkkuNotFound:
            return ActionResult(actor_id=request.actor_id, action=request.action, status="failed", detail=UNKNOWN_ACTOR)
        except AkkuError as err:
            raise application_error(err) from None
