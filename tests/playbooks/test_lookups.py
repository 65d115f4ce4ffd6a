"""The reads a playbook asks for beyond the actors' own events, against the Akku simulator over
real HTTP: spread by source IP (docs/rules.md, IAM signals) and prior activity (the log rules' (docs/rules.md) dormant accounts), one
call each per batch, addresses capped, and only when the playbook scores them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from activities.akku import PRIOR_ACTIVITY_DAYS, SPREAD_IPS_CAP, Lookups, gather_evidence, lookups_for
from clients.akku.adapter import timestamp
from clients.akku.client import AkkuClient
from riposte.models.enrichment import EvidenceBatch, EvidenceRequest
from riposte.models.evidence import ActorEvidence
from simulators.akku.server import SimulatorConfig, create_app
from tests.playbooks.builders import PLAYBOOKS
from tests.support.servers import running_app

NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = {"since": NOW - timedelta(hours=1), "until": NOW}


class Recording(httpx.AsyncBaseTransport):
    """The real HTTP transport, remembering every request it sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return await self.inner.handle_async_request(request)

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.sent if r.method == method and r.url.path.endswith(path)]


@pytest.fixture(scope="module")
async def sim() -> AsyncIterator[str]:
    async with running_app(create_app(SimulatorConfig(api_key="k", seed=23))) as url:
        yield url


async def write(sim: str, users: list[str], events: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient() as http:
        for user in users:
            assert (await http.patch(f"{sim}/_sim/users/{user}", json={})).status_code == 200
        if events:
            assert (await http.post(f"{sim}/_sim/events", json={"events": events})).status_code == 200


def failure(actor: str, ip: str, minutes: float = 10, kind: str = "mfa.failure") -> dict[str, Any]:
    return {
        "event_type": kind,
        "actor_id": actor,
        "source_ip": ip,
        "timestamp": timestamp(NOW - timedelta(minutes=minutes)),
    }


async def gather(sim: str, ids: list[str], lookups: Lookups) -> tuple[dict[str, ActorEvidence], Recording]:
    transport = Recording()
    async with AkkuClient(f"{sim}/api", "k", transport=transport) as client:
        batch: EvidenceBatch = await gather_evidence(client, EvidenceRequest(actor_ids=ids, **WINDOW), lookups)
    return {e.actor_id: e for e in batch.evidence}, transport


def fresh(name: str, count: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"u_{name}{tag}_{n}" for n in range(count)]


async def test_spread_counts_accounts_failing_from_the_same_ips_in_one_call(sim: str) -> None:
    stuffed, (loner,) = fresh("stuff", 20), fresh("loner", 1)
    events = [failure(a, "203.0.113.50", 10 + n / 10) for n, a in enumerate(stuffed)]
    events += [failure(stuffed[0], "203.0.113.51", kind="login.failure"), failure(loner, "203.0.113.52")]
    (earlier,) = fresh("earlier", 1)
    events.append(failure(earlier, "203.0.113.50", minutes=90))  # before the window: not counted
    await write(sim, [*stuffed, loner, earlier], events)
    found, sent = await gather(sim, [stuffed[0], stuffed[5], loner], Lookups(failure_spread=20))
    assert found[stuffed[0]].failing_accounts_from_ips == 20
    assert found[stuffed[5]].failing_accounts_from_ips == 20
    assert found[loner].failing_accounts_from_ips == 1
    assert found[loner].recovering_accounts_from_ips is None and found[loner].prior_activity is None
    (lookup,) = sent.calls("GET", "/v1/auth-events")  # one paged query for the batch
    assert sorted(lookup.url.params.get_list("source_ip")) == ["203.0.113.50", "203.0.113.51", "203.0.113.52"]
    assert set(lookup.url.params.get_list("event_type")) == {"mfa.failure", "login.failure"}


async def test_the_addresses_looked_up_are_capped(sim: str) -> None:
    many = fresh("wide", SPREAD_IPS_CAP + 10)
    await write(sim, many, [failure(a, f"10.9.{n // 200}.{n % 200 + 1}") for n, a in enumerate(many)])
    found, sent = await gather(sim, many, Lookups(failure_spread=20))
    (lookup,) = sent.calls("GET", "/v1/auth-events")
    assert len(lookup.url.params.get_list("source_ip")) == SPREAD_IPS_CAP
    assert {e.failing_accounts_from_ips for e in found.values()} == {1}  # each counts itself at least


async def test_reading_stops_once_every_address_shows_enough_accounts(sim: str) -> None:
    (actor,) = fresh("hot", 1)
    bots = [failure(f"u_bot{n}", "203.0.113.80", 30 - n / 100) for n in range(1500)]  # two pages' worth
    await write(sim, [actor], [*bots, failure(actor, "203.0.113.80", 1)])
    found, sent = await gather(sim, [actor], Lookups(failure_spread=20))
    assert len(sent.calls("GET", "/v1/auth-events")) == 1
    assert (found[actor].failing_accounts_from_ips or 0) > 20


async def test_recovery_spread_counts_accounts_with_recovery_attempts_from_the_same_ips(sim: str) -> None:
    targets = fresh("recover", 10)
    await write(
        sim, targets, [failure(a, "203.0.113.60", 5 + n, kind="recovery.attempted") for n, a in enumerate(targets)]
    )
    found, _ = await gather(sim, targets[:2], Lookups(recovery_spread=10))
    assert [e.recovering_accounts_from_ips for e in found.values()] == [10, 10]
    assert all(e.failing_accounts_from_ips is None for e in found.values())


async def test_prior_activity_is_the_last_success_before_the_window(sim: str) -> None:
    woken, never = fresh("dormant", 2)
    success = {"event_type": "login.success", "source_ip": "198.51.100.9"}
    events = [
        {**success, "actor_id": woken, "timestamp": timestamp(NOW - timedelta(days=91))},
        {**success, "actor_id": woken, "timestamp": timestamp(NOW - timedelta(days=200))},
        {**success, "actor_id": woken, "timestamp": timestamp(NOW - timedelta(minutes=5))},  # the waking sign-in
        {**success, "actor_id": never, "timestamp": timestamp(NOW - timedelta(minutes=5))},
    ]
    await write(sim, [woken, never], events)
    found, sent = await gather(sim, [woken, never], Lookups(prior_activity_days=PRIOR_ACTIVITY_DAYS))
    prior = found[woken].prior_activity
    assert prior is not None and prior.lookback_days == PRIOR_ACTIVITY_DAYS
    assert prior.last_success_at == NOW - timedelta(days=91)
    nothing = found[never].prior_activity
    assert nothing is not None and nothing.last_success_at is None
    queries = sent.calls("POST", "/v1/auth-events/query")
    assert len(queries) == 2  # the window's events, then one for the prior activity of the whole batch


def test_each_playbook_asks_only_for_what_it_scores() -> None:
    asked = {p.name: lookups_for(p.playbook) for p in PLAYBOOKS.playbooks}
    # counted up to the factor's saturation (raised on trusted networks): past it nothing changes
    assert asked["credential-stuffing"] == Lookups(failure_spread=20 * 3)
    assert asked["recovery-storm"] == Lookups(recovery_spread=10)
    assert asked["dormant-account"] == Lookups(prior_activity_days=PRIOR_ACTIVITY_DAYS)
    others = {n for n in asked if n not in ("credential-stuffing", "recovery-storm", "dormant-account")}
    assert others and all(asked[n] == Lookups() for n in others)


async def test_without_lookups_nothing_more_is_read(sim: str) -> None:
    (actor,) = fresh("plain", 1)
    await write(sim, [actor], [failure(actor, "203.0.113.70")])
    found, sent = await gather(sim, [actor], Lookups())
    assert not sent.calls("GET", "/v1/auth-events") and len(sent.calls("POST", "/v1/auth-events/query")) == 1
    assert found[actor].failing_accounts_from_ips is None


def test_evidence_recorded_before_these_fields_still_decodes() -> None:
    old = {"actor_id": "u_1", "window_start": "2026-11-21T08:30:00Z", "window_end": "2026-11-21T09:30:00Z"}
    e = ActorEvidence.model_validate_json(json.dumps(old))
    assert e.failing_accounts_from_ips is None and e.recovering_accounts_from_ips is None and e.prior_activity is None
