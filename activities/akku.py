"""Akku activities: identities resolved, evidence summarised, actions applied.

Evidence leaves here as compact summaries (riposte/models/evidence.py), never as raw
event lists, so histories stay small however noisy the attack. Akku's failures become
typed ApplicationErrors: the retry policies in activities/retry.py decide what is retried,
and a 429's Retry-After becomes the next retry's delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter, defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.akku.client import AkkuClient
from clients.akku.errors import AkkuError, AkkuNotFound
from clients.akku.models import FAILURE_TYPES, AuthEvent, User
from playbooks.evidence import (
    RECOVERY_TYPES,
    ROLE_ASSIGNED,
    SUCCESS_TYPES,
    accounts_sharing_ips,
    admin_history,
    busiest_ips,
    last_success,
    summarise,
)
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
    PriorActivity,
    UserRecord,
)
from riposte.models.playbook import Playbook

T = TypeVar("T")
RESOLVE_CONCURRENCY = 8
IP_ACTORS_CAP = 5000
UNKNOWN_ACTOR = "unknown actor"
SPREAD_IPS_CAP = 50  # source IPs looked up per batch (the busiest of the batch's failures)
SPREAD_EVENTS_CAP = 10_000  # events read per lookup: 10 pages at most
SPREAD_ENOUGH = 20  # accounts per IP past which a spread factor without `saturate_at` gains nothing
PRIOR_ACTIVITY_DAYS = 400  # how far back "last active" is read from the event history


@dataclass(frozen=True)
class Lookups:
    """Reads beyond the actors' own events, only when the playbook scores them (one call each per
    batch). A spread is counted up to `enough` accounts per IP: past it the factor gains nothing."""

    failure_spread: int | None = None  # accounts failing from the same IPs (the stuffing signature)
    recovery_spread: int | None = None  # accounts with recovery attempts from the same IPs
    prior_activity_days: int | None = None  # last success before the window (dormant accounts)


def lookups_for(playbook: Playbook) -> Lookups:
    factors, guards = playbook.factors, playbook.guards

    def enough(name: str) -> int | None:
        if name not in factors:
            return None
        full = factors[name].saturate_at or SPREAD_ENOUGH
        return math.ceil(full * (guards.trusted_threshold_multiplier if guards.trusted_cidrs else 1))

    return Lookups(
        failure_spread=enough("spread"),
        recovery_spread=enough("recovery_spread"),
        prior_activity_days=PRIOR_ACTIVITY_DAYS if "dormant" in factors else None,
    )


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


async def spread_of(
    client: AkkuClient,
    events_by_actor: Mapping[str, Sequence[AuthEvent]],
    types: Sequence[str],
    since: datetime,
    until: datetime,
    enough: int,
) -> dict[str, int]:
    """Per actor, the distinct accounts with `types` events from its addresses in the window,
    across all of Akku: one paged query for the batch's busiest addresses, read until every
    address shows `enough` accounts (or SPREAD_EVENTS_CAP events)."""
    ips = busiest_ips(events_by_actor, types, SPREAD_IPS_CAP)
    accounts: defaultdict[str, set[str]] = defaultdict(set)
    read = full = 0
    if ips:
        # each page is a whole answer (no open stream), so stopping early leaves nothing open
        async for event in client.iter_events(since, until, source_ips=ips, event_types=types):
            read += 1
            found = accounts[event.source_ip or ""]
            if event.actor_id not in found:
                found.add(event.actor_id)
                full += len(found) == enough
            if full >= len(ips) or read >= SPREAD_EVENTS_CAP:
                break
            if read % 1000 == 0:
                heartbeat("spread", read)
    return {actor: accounts_sharing_ips(actor, own, types, accounts) for actor, own in events_by_actor.items()}


async def prior_activity(
    client: AkkuClient, actor_ids: Sequence[str], before: datetime, days: int
) -> dict[str, PriorActivity]:
    """Each actor's last success in the `days` before the window: one batch query per 100 actors."""
    found = await client.query_events_many(actor_ids, before - timedelta(days=days), before, SUCCESS_TYPES)
    return {
        actor: PriorActivity(
            lookback_days=days,
            last_success_at=last_success(found.results[actor].events, before) if actor in found.results else None,
        )
        for actor in actor_ids
    }


async def gather_evidence(
    client: AkkuClient, request: EvidenceRequest, lookups: Lookups | None = None
) -> EvidenceBatch:
    """Users, events and (for admins) audit history of up to 100 actors: a handful of calls;
    plus what the playbook's `lookups` ask for, one call each for the whole batch."""
    lookups = lookups or Lookups()
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
    known = [a for a in ids if a not in unknown]
    own = {a: list(found.events) if (found := events.results.get(a)) else [] for a in known}
    failing, recovering, prior = await asyncio.gather(
        spread_of(client, own, FAILURE_TYPES, request.since, request.until, lookups.failure_spread)
        if lookups.failure_spread
        else _none(),
        spread_of(client, own, RECOVERY_TYPES, request.since, request.until, lookups.recovery_spread)
        if lookups.recovery_spread
        else _none(),
        prior_activity(client, known, request.since, lookups.prior_activity_days)
        if lookups.prior_activity_days and known
        else _none(),
    )
    evidence = []
    for actor_id in known:
        found = events.results.get(actor_id)
        user = users.users.get(actor_id)
        summary = summarise(
            actor_id,
            _record(user) if user else None,
            own[actor_id],
            request.since,
            request.until,
            truncated=bool(found and found.truncated),
            admin=histories.get(actor_id),
        )
        evidence.append(
            summary.model_copy(
                update={
                    "failing_accounts_from_ips": failing.get(actor_id) if failing is not None else None,
                    "recovering_accounts_from_ips": recovering.get(actor_id) if recovering is not None else None,
                    "prior_activity": prior.get(actor_id) if prior is not None else None,
                }
            )
        )
    return EvidenceBatch(evidence=evidence, unknown_actor_ids=unknown)


async def _none() -> None:
    return None


class AkkuActivities:
    def __init__(self, client: AkkuClient, *, dry_run: bool = False) -> None:
        self._akku = client
        self._dry_run = dry_run  # RIPOSTE_DRY_RUN on this worker: no write leaves it, whatever the run says

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
        if self._dry_run:
            activity.logger.info("dry run: not applied", extra={"action": request.action.value})
            return ActionResult(
                actor_id=request.actor_id,
                action=request.action,
                status="dry_run",
                detail="RIPOSTE_DRY_RUN is set on the worker: nothing written",
            )
        try:
            return await self._akku.apply(request)
        except AkkuNotFound:
            return ActionResult(actor_id=request.actor_id, action=request.action, status="failed", detail=UNKNOWN_ACTOR)
        except AkkuError as err:
            raise application_error(err) from None
