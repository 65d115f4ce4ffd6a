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
from collections.abc import Awaitable, Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.akku.client import AkkuClient
from clients.akku.errors import AkkuError, AkkuNotFound
from clients.akku.models import FAILURE_TYPES, AuditEvent, AuthEvent, User
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
    GEO_POINTS_CAP,
    IPS_CAP,
    LOCKOUTS_CAP,
    ROLE_CHANGES_CAP,
    TIMESTAMPS_CAP,
    ActorEvidence,
    AdminHistory,
    FailureRisk,
    GeoPoint,
    IpStats,
    Lockout,
    RiskContext,
    RoleChange,
    UserRecord,
)

T = TypeVar("T")
RESOLVE_CONCURRENCY = 8
IP_ACTORS_CAP = 5000
ROLE_ASSIGNED = "role.assigned"
UNKNOWN_ACTOR = "unknown actor"
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
REPUTATION_ORDER = {"good": 0, "unknown": 1, "suspicious": 2, "malicious": 3}


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


# --- summarising (pure) ----------------------------------------------------------------


def failure_risk(risk: RiskContext | None) -> str:
    """Seed 000: an unknown device AND (unusual time OR a bad IP OR high risk) is high risk."""
    if risk is None:
        return "medium"
    bad_ip = risk.ip_reputation in ("suspicious", "malicious")
    if risk.device_known is False and (risk.unusual_time or bad_ip or risk.risk_level == "high"):
        return "high"
    if risk.device_known and not risk.unusual_time and risk.ip_reputation == "good":
        return "low"
    return "medium"


def worst_risk(contexts: Iterable[RiskContext]) -> RiskContext | None:
    worst: RiskContext | None = None
    for ctx in contexts:
        if worst is None:
            worst = ctx
            continue
        worst = RiskContext(
            risk_level=max((worst.risk_level, ctx.risk_level), key=lambda v: RISK_ORDER.get(v or "", -1)),
            geo_anomaly=bool(worst.geo_anomaly or ctx.geo_anomaly),
            ip_reputation=max(
                (worst.ip_reputation, ctx.ip_reputation), key=lambda v: REPUTATION_ORDER.get(v or "", -1)
            ),
            unusual_time=bool(worst.unusual_time or ctx.unusual_time),
            device_known=False if (worst.device_known is False or ctx.device_known is False) else worst.device_known,
        )
    return worst


def summarise(
    actor_id: str,
    user: UserRecord | None,
    events: list[AuthEvent],
    since: datetime,
    until: datetime,
    *,
    truncated: bool = False,
    admin: AdminHistory | None = None,
) -> ActorEvidence:
    """One actor's events in the window, reduced to counts and capped lists (counts stay exact)."""
    events = sorted(events, key=lambda e: (e.timestamp, e.event_id))
    by_type = Counter(e.event_type for e in events)
    failures = [e for e in events if e.event_type in FAILURE_TYPES]
    mfa_failures = [e for e in events if e.event_type == "mfa.failure"]
    risk = FailureRisk(**Counter(failure_risk(e.risk_context) for e in failures))
    ips = list(dict.fromkeys(e.source_ip for e in events if e.source_ip))
    countries = list(
        dict.fromkeys(e.geo_location.country_code for e in events if e.geo_location and e.geo_location.country_code)
    )
    located = [
        GeoPoint(
            at=e.timestamp,
            event_type=e.event_type,
            source_ip=e.source_ip,
            country_code=e.geo_location.country_code,
            city=e.geo_location.city,
            latitude=e.geo_location.latitude,
            longitude=e.geo_location.longitude,
        )
        for e in events
        if e.geo_location is not None
        and e.geo_location.latitude is not None
        and e.event_type in ("login.success", "mfa.success", "login.failure", "mfa.failure")
    ]
    pushes = [e.timestamp for e in events if e.event_type == "mfa.challenge_issued" and e.mfa_method == "push"]
    push_ok = [e.timestamp for e in events if e.event_type == "mfa.success" and e.mfa_method == "push"]
    recovery = [e for e in events if e.event_type == "recovery.attempted"]
    return ActorEvidence(
        actor_id=actor_id,
        known=True,
        user=user,
        window_start=since,
        window_end=until,
        events_total=len(events),
        events_truncated=truncated,
        counts_by_type=dict(by_type),
        mfa_failures_by_method=dict(Counter(e.mfa_method for e in mfa_failures if e.mfa_method)),
        mfa_failures_by_reason=dict(Counter(e.failure_reason for e in mfa_failures if e.failure_reason)),
        failure_risk=risk,
        source_ips=ips[:IPS_CAP],
        source_ip_count=len(ips),
        countries=countries,
        geo_points=located[-GEO_POINTS_CAP:],
        push_challenges=pushes[-TIMESTAMPS_CAP:],
        push_successes=push_ok[-TIMESTAMPS_CAP:],
        lockouts=[
            Lockout(at=e.timestamp, failed_attempt_count=e.failed_attempt_count, source_ip=e.source_ip)
            for e in events
            if e.event_type == "account.locked"
        ][-LOCKOUTS_CAP:],
        recovery_by_method=dict(Counter(e.recovery_method for e in recovery if e.recovery_method)),
        recovery_by_outcome=dict(Counter(e.outcome for e in recovery if e.outcome)),
        worst_risk=worst_risk(e.risk_context for e in events if e.risk_context),
        admin=admin,
    )


def admin_history(events: list[AuditEvent], since: datetime, days: int) -> AdminHistory:
    """Seed 002: an admin's role assignments in the alert window vs their own prior history."""
    assigned = sorted((e for e in events if e.action == ROLE_ASSIGNED and e.role), key=lambda e: e.timestamp)
    recent = [e for e in assigned if e.timestamp >= since]
    before = [e for e in assigned if e.timestamp < since]
    return AdminHistory(
        lookback_days=days,
        recent=[
            RoleChange(
                at=e.timestamp,
                action=e.action,
                actor_id=e.actor_id,
                target_id=e.target_id or "",
                role=e.role or "",
                source_ip=e.source_ip,
            )
            for e in recent
        ][-ROLE_CHANGES_CAP:],
        roles_assigned_before=sorted({e.role for e in before if e.role}),
        targets_before=len({e.target_id for e in before if e.target_id}),
    )


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
