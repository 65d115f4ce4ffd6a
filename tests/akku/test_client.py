"""The Akku client against the Akku simulator over real HTTP: contract, taxonomy, retries."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.akku import AkkuActivities
from clients.akku.client import AkkuClient
from clients.akku.errors import (
    AkkuAuthError,
    AkkuBadRequest,
    AkkuError,
    AkkuNotFound,
    AkkuProtocolError,
    AkkuRateLimited,
    AkkuServerError,
    AkkuUnavailable,
)
from riposte.models.actions import ActionRequest
from riposte.models.alert import ActorRef, IdentityKind
from riposte.models.common import ActionKind
from riposte.models.enrichment import IpActivityRequest, ResolveRequest
from simulators.akku.server import SimulatorConfig, create_app
from tests.support.servers import running_app

KEY = "akku-test-key-7f3a"
HOUR = timedelta(hours=1)


@pytest.fixture
async def sim() -> AsyncIterator[str]:
    async with running_app(create_app(SimulatorConfig(api_key=KEY, seed=3, timeout_fault_seconds=2))) as url:
        yield url


@pytest.fixture
async def akku(sim: str) -> AsyncIterator[AkkuClient]:
    async with AkkuClient(f"{sim}/api", KEY, timeout=1.0) as client:
        yield client


async def control(sim: str, method: str, path: str, body: object = None) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        answer = await http.request(method, f"{sim}{path}", json=body)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data


def since() -> datetime:
    return datetime.now(UTC) - 24 * HOUR


async def test_a_wrong_key_is_an_auth_error_that_never_shows_the_key(sim: str) -> None:
    async with AkkuClient(f"{sim}/api", "wrong-secret-key-123") as bad:
        with pytest.raises(AkkuAuthError) as caught:
            await bad.get_user("u_10001")
    assert caught.value.status == 401
    assert "wrong-secret-key-123" not in str(caught.value) + repr(caught.value) + repr(bad)
    assert "AKKU_API_KEY" in str(caught.value)


async def test_unknown_actor_is_not_found_and_unknown_in_batches(akku: AkkuClient) -> None:
    with pytest.raises(AkkuNotFound):
        await akku.get_user("u_nobody")
    batch = await akku.users_batch(["u_10001", "u_nobody"])
    assert set(batch.users) == {"u_10001"} and batch.unknown_actor_ids == ["u_nobody"]


async def test_pagination_follows_cursors_to_the_end(akku: AkkuClient) -> None:
    everything = [e async for e in akku.iter_events(since(), limit=1000)]
    paged = [e async for e in akku.iter_events(since(), limit=37)]
    assert len(paged) == len(everything) > 100
    assert [e.event_id for e in paged] == [e.event_id for e in everything]
    stamps = [(e.timestamp, e.event_id) for e in paged]
    assert stamps == sorted(stamps)


async def test_limit_out_of_range_is_a_bad_request(akku: AkkuClient) -> None:
    with pytest.raises(AkkuBadRequest):
        await akku.events_page(since(), limit=1001)


async def test_large_batches_split_into_calls_of_100(akku: AkkuClient, sim: str) -> None:
    ids = [f"u_{10001 + i}" for i in range(200)] + [f"u_ghost{i}" for i in range(50)]
    result = await akku.query_events_many(ids, since())
    calls = [
        r for r in (await control(sim, "GET", "/_sim/requests"))["requests"] if r["path"] == "/v1/auth-events/query"
    ]
    assert len(calls) == 3
    assert len(result.results) == 200 and len(result.unknown_actor_ids) == 50
    with pytest.raises(ValueError, match="at most 100"):
        await akku.query_events(ids[:101], since())


async def test_identities_resolve_case_insensitively(akku: AkkuClient) -> None:
    user = await akku.get_user("u_10002")
    found = await akku.find_users(email=(user.email or "").upper())
    assert [u.actor_id for u in found] == ["u_10002"]
    assert await akku.find_users(login="nobody@example.com") == []


async def test_writes_are_idempotent(akku: AkkuClient, sim: str) -> None:
    request = ActionRequest(
        actor_id="u_10003", action=ActionKind.LOCK, reason="test", reference="wf-1", idempotency_key="k-1"
    )
    first, again = await akku.apply(request), await akku.apply(request)
    assert first.status == again.status == "applied"
    other_key = await akku.apply(request.model_copy(update={"idempotency_key": "k-2"}))
    assert other_key.status == "already_applied"
    writes = (await control(sim, "GET", "/_sim/writes"))["writes"]
    applied = [w for w in writes if w["status"] == "applied"]
    assert len(applied) == 1 and applied[0]["reference"] == "wf-1" and applied[0]["idempotency_key"] == "k-1"


async def test_retry_after_is_honoured(akku: AkkuClient, sim: str) -> None:
    await control(sim, "POST", "/_sim/faults", {"rate": 1.0, "kinds": ["429"], "retry_after": 1, "seed": 1})
    started = time.monotonic()
    with pytest.raises(AkkuRateLimited) as caught:
        await akku.get_user("u_10001")
    assert caught.value.retry_after == 1
    requests = [
        r for r in (await control(sim, "GET", "/_sim/requests"))["requests"] if r["path"] == "/v1/users/u_10001"
    ]
    gaps = [
        (datetime.fromisoformat(b["at"]) - datetime.fromisoformat(a["at"])).total_seconds()
        for a, b in itertools.pairwise(requests)
    ]
    assert len(requests) == 3 and all(g >= 0.99 for g in gaps)
    assert time.monotonic() - started >= 2


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("500", AkkuServerError),
        ("bad_json", AkkuProtocolError),
        ("drop", AkkuUnavailable),
        ("timeout", AkkuUnavailable),
    ],
)
async def test_faults_surface_as_retryable_types(akku: AkkuClient, sim: str, kind: str, error: type[AkkuError]) -> None:
    await control(sim, "POST", "/_sim/faults", {"rate": 1.0, "kinds": [kind]})
    with pytest.raises(error) as caught:
        await akku.users_batch(["u_10001"])
    assert caught.value.retryable


async def test_transient_faults_are_absorbed_within_the_call(akku: AkkuClient, sim: str) -> None:
    await control(sim, "POST", "/_sim/faults", {"rate": 0.3, "kinds": ["503"], "seed": 4})
    for _ in range(8):
        assert (await akku.get_user("u_10001")).actor_id == "u_10001"


async def test_a_failed_write_is_never_applied(akku: AkkuClient, sim: str) -> None:
    await control(sim, "POST", "/_sim/faults", {"rate": 1.0, "kinds": ["503"]})
    request = ActionRequest(actor_id="u_10004", action=ActionKind.LOCK, reason="t", reference="wf", idempotency_key="x")
    with pytest.raises(AkkuServerError):
        await akku.apply(request)
    await control(sim, "DELETE", "/_sim/faults")
    assert (await control(sim, "GET", "/_sim/writes"))["writes"] == []
    assert (await akku.get_user("u_10004")).status == "active"


async def test_activities_translate_the_taxonomy_for_temporal(akku: AkkuClient, sim: str) -> None:
    acts, env = AkkuActivities(akku), ActivityEnvironment()
    await control(sim, "POST", "/_sim/faults", {"rate": 1.0, "kinds": ["429"], "retry_after": 30})
    with pytest.raises(ApplicationError) as caught:
        await env.run(acts.resolve_identities, ResolveRequest(refs=[ActorRef(kind=IdentityKind.EMAIL, value="a@b.c")]))
    assert caught.value.type == "AkkuRateLimited" and not caught.value.non_retryable
    assert caught.value.next_retry_delay == timedelta(seconds=30)
    await control(sim, "DELETE", "/_sim/faults")
    missing = await env.run(
        acts.apply_action,
        ActionRequest(actor_id="u_nobody", action=ActionKind.LOCK, reason="t", reference="wf", idempotency_key="y"),
    )
    assert missing.status == "failed" and "unknown" in missing.detail


async def test_ip_activity_counts_failures_and_users_per_ip(akku: AkkuClient, sim: str) -> None:
    facts = await control(sim, "POST", "/_sim/scenarios/brute_force")
    now = datetime.now(UTC)
    result = await ActivityEnvironment().run(
        AkkuActivities(akku).ip_activity, IpActivityRequest(ips=facts["source_ips"], since=now - HOUR, until=now)
    )
    (stat,) = result.stats
    assert stat.failures > 5 and stat.distinct_actors > 3 and stat.lockouts == 2
    assert set(result.actor_ids) == set(facts["actor_ids"])


async def test_audit_events_and_login_metrics(akku: AkkuClient, sim: str) -> None:
    facts = await control(sim, "POST", "/_sim/scenarios/admin_elevation")
    events = [e async for e in akku.audit_events(since(), actor_id="u_admin3", action="role.assigned")]
    assert any(e.role == "global_admin" and e.target_id == facts["target_id"] for e in events)
    metrics = await akku.login_metrics()
    assert len(metrics.trend) == 24 and metrics.total_logins == metrics.successful + metrics.failed


async def test_the_stream_sends_events_as_ndjson(sim: str) -> None:
    app = create_app(SimulatorConfig(api_key=KEY, heartbeat_seconds=0.05))
    async with running_app(app) as url, AkkuClient(f"{url}/api", KEY) as client:
        seen = []
        async for event in client.stream_events(since(), ["login.success"]):
            seen.append(event)
            if len(seen) == 3:
                break
    assert all(e.event_type == "login.success" for e in seen)


def test_a_408_is_retried_like_a_5xx_and_other_4xx_are_not() -> None:
    from clients.akku.errors import for_status

    assert for_status(408, "request timeout", None, None).retryable
    assert for_status(503, "unavailable", None, None).retryable
    assert not for_status(400, "bad request", None, None).retryable
    assert not for_status(404, "unknown actor", None, None).retryable
