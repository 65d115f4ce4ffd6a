"""Every simulator scenario produces the pattern its seed describes, read back through the client."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.akku import AkkuActivities, gather_evidence
from clients.akku.client import AkkuClient
from clients.akku.models import AuthEvent
from riposte.models.common import ActionKind
from riposte.models.enrichment import EvidenceRequest, IpActivityRequest
from simulators.akku.server import SimulatorConfig, create_app, scenario_names
from simulators.akku.store import ATTACKER_CIDR, OFFICE_CIDR, VPN_EGRESS_CIDR
from tests.akku.streaming import streaming
from tests.support.servers import running_app

KEY = "akku-test-key-7f3a"
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
async def sim() -> AsyncIterator[str]:
    async with running_app(create_app(SimulatorConfig(api_key=KEY, seed=5, now=NOW))) as url:
        yield url


@pytest.fixture
async def akku(sim: str) -> AsyncIterator[AkkuClient]:
    async with AkkuClient(f"{sim}/api", KEY) as client:
        yield client


@pytest.fixture
async def fresh() -> AsyncIterator[tuple[str, AkkuClient]]:
    """A simulator of the test's own, for facts another scenario in the module could blur."""
    async with (
        running_app(create_app(SimulatorConfig(api_key=KEY, seed=5, now=NOW))) as url,
        AkkuClient(f"{url}/api", KEY) as client,
    ):
        yield url, client


async def load(sim: str, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim}/_sim/scenarios/{name}", json=body)
    answer.raise_for_status()
    facts: dict[str, Any] = answer.json()
    return facts


async def recent(akku: AkkuClient, actor_ids: list[str], since: datetime = NOW - HOUR) -> list[AuthEvent]:
    """The actors' events in the lookback, oldest first (the background noise is all older than 1.5 h)."""
    return [e async for e in akku.iter_events(since, NOW + timedelta(seconds=1), actor_ids=actor_ids)]


def inside(ip: str | None, cidr: str) -> bool:
    return ip is not None and ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)


def km_per_hour(a: AuthEvent, b: AuthEvent) -> float:
    assert a.geo_location and b.geo_location
    lat1, lon1, lat2, lon2 = map(
        math.radians,
        (
            a.geo_location.latitude or 0,
            a.geo_location.longitude or 0,
            b.geo_location.latitude or 0,
            b.geo_location.longitude or 0,
        ),
    )
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    km = 2 * 6371 * math.asin(math.sqrt(h))
    return km / ((b.timestamp - a.timestamp).total_seconds() / 3600)


async def test_the_scenario_list_is_the_public_one(sim: str) -> None:
    async with httpx.AsyncClient() as http:
        listed = (await http.get(f"{sim}/_sim/scenarios")).json()["scenarios"]
        unknown = await http.post(f"{sim}/_sim/scenarios/no_such_thing")
        bad_actor = await http.post(f"{sim}/_sim/scenarios/mfa_fatigue", json={"actor_ids": ["u_nobody"]})
    assert sorted(listed) == sorted(scenario_names())
    assert set(scenario_names()) >= {
        "credential_stuffing",
        "brute_force",
        "recovery_storm",
        "mfa_fatigue",
        "impossible_travel",
        "dormant_account",
        "admin_elevation",
        "low_and_slow",
        "office_login_burst",
        "vpn_switch",
    }
    assert all(listed.values())  # each explains itself
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_scenario"
    assert bad_actor.status_code == 422


@pytest.mark.parametrize("name", sorted(set(scenario_names()) - {"low_and_slow"}))
async def test_scenarios_answer_the_facts_of_an_alert_inside_a_one_hour_lookback(
    sim: str, akku: AkkuClient, name: str
) -> None:
    facts = await load(sim, name)
    assert facts["scenario"] == name and facts["rule_name"] and facts["detection"]
    assert facts["actor_ids"] and facts["source_ips"]
    start, end = (datetime.fromisoformat(facts[k]) for k in ("window_start", "window_end"))
    assert NOW - HOUR <= start < end <= NOW
    users = await akku.users_batch(facts["actor_ids"])
    assert [users.users[a].email for a in facts["actor_ids"]] == facts["emails"]
    if name != "admin_elevation":  # the admin's act is an audit event, not an auth event
        events = await recent(akku, facts["actor_ids"])
        assert events and all(start <= e.timestamp <= end for e in events)
        assert {e.actor_id for e in events} == set(facts["actor_ids"])


async def test_credential_stuffing_many_accounts_rotating_ips_wrong_codes_unknown_devices(
    sim: str, akku: AkkuClient
) -> None:
    facts = await load(sim, "credential_stuffing")
    events = await recent(akku, facts["actor_ids"])
    mfa_failures = [e for e in events if e.event_type == "mfa.failure"]
    assert len(facts["actor_ids"]) >= 20 and not facts["false_positive"]
    assert Counter(e.actor_id for e in mfa_failures).keys() == set(facts["actor_ids"])
    assert min(Counter(e.actor_id for e in mfa_failures).values()) >= 5
    assert {e.failure_reason for e in mfa_failures} == {"wrong_code"}
    assert all(inside(e.source_ip, ATTACKER_CIDR) for e in events)
    assert len({e.source_ip for e in events}) >= 10
    assert all(e.risk_context and e.risk_context.device_known is False for e in events)
    assert all(e.risk_context and e.risk_context.risk_level == "high" for e in events)
    batch = await gather_evidence(
        akku, EvidenceRequest(actor_ids=facts["actor_ids"], since=NOW - HOUR, until=NOW + timedelta(seconds=1))
    )
    for evidence in batch.evidence:
        failures = evidence.counts_by_type["mfa.failure"] + evidence.counts_by_type["login.failure"]
        assert evidence.failure_risk.high == failures


async def test_brute_force_one_ip_many_users_and_lockouts(fresh: tuple[str, AkkuClient]) -> None:
    sim, akku = fresh  # other scenarios' rotating attacker IPs may include this one
    facts = await load(sim, "brute_force")
    (ip,) = facts["source_ips"]
    assert inside(ip, ATTACKER_CIDR)
    result = await ActivityEnvironment().run(
        AkkuActivities(akku).ip_activity, IpActivityRequest(ips=[ip], since=NOW - HOUR, until=NOW)
    )
    lockouts = [e for e in await recent(akku, facts["actor_ids"]) if e.event_type == "account.locked"]
    (stats,) = result.stats
    assert stats.failures > 5 and stats.distinct_actors > 3 and stats.lockouts >= 1
    assert sorted(result.actor_ids) == sorted(facts["actor_ids"])
    assert lockouts and all((e.failed_attempt_count or 0) > 5 for e in lockouts)


async def test_recovery_storm_bursts_across_recovery_methods(sim: str, akku: AkkuClient) -> None:
    facts = await load(sim, "recovery_storm")
    events = await recent(akku, facts["actor_ids"])
    assert events and {e.event_type for e in events} == {"recovery.attempted"}
    for actor in facts["actor_ids"]:
        attempts = [e for e in events if e.actor_id == actor]
        assert len(attempts) >= 5
        assert attempts[-1].timestamp - attempts[0].timestamp <= timedelta(minutes=20)
    assert {"email_otp", "sms_otp", "helpdesk"} <= {e.recovery_method for e in events}
    assert {e.outcome for e in events} <= {"failure", "blocked"}


async def test_mfa_fatigue_more_than_five_pushes_in_two_minutes_none_approved(sim: str, akku: AkkuClient) -> None:
    facts = await load(sim, "mfa_fatigue")
    (actor,) = facts["actor_ids"]
    events = await recent(akku, [actor])
    pushes = [e.timestamp for e in events if e.event_type == "mfa.challenge_issued" and e.mfa_method == "push"]
    most_in_two_minutes = max(sum(1 for t in pushes if s <= t < s + timedelta(minutes=2)) for s in pushes)
    assert most_in_two_minutes > 5
    assert not [e for e in events if e.event_type == "mfa.success"]
    failures = [e for e in events if e.event_type == "mfa.failure"]
    assert failures and {(e.mfa_method, e.failure_reason) for e in failures} == {("push", "method_unavailable")}
    (evidence,) = (
        await gather_evidence(akku, EvidenceRequest(actor_ids=[actor], since=NOW - HOUR, until=NOW))
    ).evidence
    assert len(evidence.push_challenges) == len(pushes) and evidence.push_successes == []


async def test_impossible_travel_is_faster_than_1000_km_per_hour(sim: str, akku: AkkuClient) -> None:
    facts = await load(sim, "impossible_travel")
    logins = [e for e in await recent(akku, facts["actor_ids"]) if e.event_type == "login.success"]
    assert [e.geo_location.city for e in logins if e.geo_location] == ["Chennai", "Frankfurt"]
    assert logins[1].timestamp - logins[0].timestamp == timedelta(minutes=20)
    assert km_per_hour(*logins) > 1000
    assert logins[1].risk_context and logins[1].risk_context.device_known is False


async def test_vpn_switch_looks_like_travel_but_comes_from_the_vpn_egress(sim: str, akku: AkkuClient) -> None:
    facts = await load(sim, "vpn_switch")
    assert facts["false_positive"] and facts["detection"] == "impossible_travel"
    logins = [e for e in await recent(akku, facts["actor_ids"]) if e.event_type == "login.success"]
    fast = [(a, b) for a, b in itertools.pairwise(logins) if km_per_hour(a, b) > 1000]
    assert fast  # it does look like travel...
    assert all(inside(b.source_ip, VPN_EGRESS_CIDR) or inside(a.source_ip, VPN_EGRESS_CIDR) for a, b in fast)
    assert all(e.risk_context and e.risk_context.device_known for e in logins)  # ...on the user's own device


async def test_dormant_account_signs_in_after_more_than_90_days(sim: str, akku: AkkuClient) -> None:
    facts = await load(sim, "dormant_account")
    (actor,) = facts["actor_ids"]
    user = await akku.get_user(actor)
    assert user.last_active_at is not None and NOW - user.last_active_at > timedelta(days=90)
    assert any(e.event_type == "login.success" for e in await recent(akku, [actor]))


async def test_admin_elevation_assigns_a_role_outside_the_admin_s_history(fresh: tuple[str, AkkuClient]) -> None:
    sim, akku = fresh  # the module's simulator has elevated the same admin before
    facts = await load(sim, "admin_elevation")
    (admin,) = facts["actor_ids"]
    batch = await gather_evidence(
        akku, EvidenceRequest(actor_ids=[admin], since=NOW - HOUR, until=NOW, admin_history_days=90)
    )
    (evidence,) = batch.evidence
    assert evidence.admin is not None
    assert [(c.role, c.target_id) for c in evidence.admin.recent] == [("global_admin", facts["target_id"])]
    assert evidence.admin.roles_assigned_before and "global_admin" not in evidence.admin.roles_assigned_before
    assert "global_admin" in (await akku.get_user(facts["target_id"])).roles


async def test_low_and_slow_few_failures_per_account_hour_over_many_hours(sim: str, akku: AkkuClient) -> None:
    facts = await load(sim, "low_and_slow")
    start, end = (datetime.fromisoformat(facts[k]) for k in ("window_start", "window_end"))
    # the accounts' own sign-ins from the office go on beside the spray
    events = [e for e in await recent(akku, facts["actor_ids"], since=start) if inside(e.source_ip, ATTACKER_CIDR)]
    assert len(events) == 48 and {e.event_type for e in events} == {"login.failure"}
    assert events[-1].timestamp - events[0].timestamp >= timedelta(hours=6)
    per_account_hour = Counter((e.actor_id, int((end - e.timestamp) / HOUR)) for e in events)
    assert max(per_account_hour.values()) <= 3
    assert len({e.source_ip for e in events}) >= 20
    assert max(Counter(e.timestamp.replace(minute=0, second=0, microsecond=0) for e in events).values()) <= 6


async def test_office_login_burst_is_known_devices_from_the_trusted_office(sim: str, akku: AkkuClient) -> None:
    facts = await load(sim, "office_login_burst")
    assert facts["false_positive"] and facts["detection"] == "credential_stuffing"
    events = await recent(akku, facts["actor_ids"])
    failures = [e for e in events if e.event_type in ("mfa.failure", "login.failure")]
    assert len({e.actor_id for e in failures}) >= 20
    assert all(inside(e.source_ip, OFFICE_CIDR) for e in events)
    assert all(e.risk_context and e.risk_context.device_known and not e.risk_context.unusual_time for e in events)
    batch = await gather_evidence(
        akku, EvidenceRequest(actor_ids=facts["actor_ids"][:100], since=NOW - HOUR, until=NOW)
    )
    assert all(e.failure_risk.high == 0 and e.failure_risk.low > 0 for e in batch.evidence)


async def test_a_scenario_takes_the_actors_or_the_count_it_is_given(sim: str) -> None:
    chosen = await load(sim, "recovery_storm", {"count": 2})
    given = await load(sim, "mfa_fatigue", {"actor_ids": ["u_10199"]})
    assert len(chosen["actor_ids"]) == 2 and given["actor_ids"] == ["u_10199"]


async def test_the_write_log_filters_pages_and_waits_for_the_next_write(fresh: tuple[str, AkkuClient]) -> None:
    sim, akku = fresh
    async with httpx.AsyncClient(timeout=10) as http:
        waiting = asyncio.create_task(http.get(f"{sim}/_sim/writes", params={"actor_id": "u_10002", "wait": 5}))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing written for u_10002 yet: the request is held
        await akku.act("u_10001", ActionKind.LOCK, reason="test", reference="t", idempotency_key="k1")
        await asyncio.sleep(0.2)
        assert not waiting.done()  # a write for someone else does not release it
        await akku.act("u_10002", ActionKind.LOCK, reason="test", reference="t", idempotency_key="k2")
        held = (await waiting).json()
        assert [(w["actor_id"], w["status"]) for w in held["writes"]] == [("u_10002", "applied")]
        assert held["next"] == 2
        later = (await http.get(f"{sim}/_sim/writes", params={"after": 1})).json()
        assert [w["actor_id"] for w in later["writes"]] == ["u_10002"]
        started = time.monotonic()
        empty = (await http.get(f"{sim}/_sim/writes", params={"after": 2, "wait": 0.3})).json()
        assert empty == {"writes": [], "next": 2} and time.monotonic() - started >= 0.3
        counts = (await http.get(f"{sim}/_sim/requests")).json()["counts"]
    assert counts["POST /v1/users/{actor_id}/lock"] == 2  # counted by route, for the life of the simulator


async def test_lockout_cluster_locks_several_distinct_accounts_within_minutes(sim: str, akku: AkkuClient) -> None:
    facts = await load(sim, "lockout_cluster")
    events = await recent(akku, facts["actor_ids"])
    lockouts = [e for e in events if e.event_type == "account.locked"]
    assert facts["detection"] == "brute_force" and not facts["false_positive"]
    assert len({e.actor_id for e in lockouts}) == len(facts["actor_ids"]) >= 5
    assert lockouts[-1].timestamp - lockouts[0].timestamp <= timedelta(minutes=5)
    assert all((e.failed_attempt_count or 0) >= 5 for e in lockouts)
    for actor in facts["actor_ids"]:
        failures = [e for e in events if e.actor_id == actor and e.event_type == "login.failure"]
        locked = next(e for e in lockouts if e.actor_id == actor)
        assert len(failures) >= 5 and all(f.timestamp < locked.timestamp for f in failures)
    assert len(set(facts["source_ips"])) == len(facts["actor_ids"])  # the cluster, not one address
    assert all(inside(ip, ATTACKER_CIDR) for ip in facts["source_ips"])


def most_within(times: list[datetime], window: timedelta) -> int:
    return max((sum(1 for t in times if s <= t < s + window) for s in times), default=0)


def most_actors_within(events: list[dict[str, Any]], window: timedelta) -> int:
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in events]
    return max(
        (len({e["actor_id"] for e, t in zip(events, stamps, strict=True) if s <= t < s + window}) for s in stamps),
        default=0,
    )


@pytest.fixture(scope="module")
async def live() -> AsyncIterator[str]:
    """A simulator on the real clock, as a streaming detector meets it."""
    async with running_app(create_app(SimulatorConfig(api_key=KEY, seed=12))) as url:
        yield url


@pytest.mark.parametrize(
    "name",
    [
        "brute_force",
        "mfa_fatigue",
        "credential_stuffing",
        "recovery_storm",
        "lockout_cluster",
        "impossible_travel",
        "dormant_account",
    ],
)
async def test_a_stream_detector_sees_each_attack_within_its_window_as_it_is_loaded(live: str, name: str) -> None:
    loaded_at = datetime.now(UTC)
    async with streaming(live, loaded_at - timedelta(minutes=30)) as stream:
        facts = await load(live, name)
        pushed: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            while True:
                pushed.append(await stream.event(timeout=0.5))
    events = [e for e in pushed if e["actor_id"] in facts["actor_ids"]]
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert events and all(loaded_at - timedelta(minutes=30) <= t <= datetime.now(UTC) for t in stamps)
    assert max(stamps) >= loaded_at - timedelta(minutes=5)  # the attack is happening now, not long ago

    def of(*types: str) -> list[dict[str, Any]]:
        return [e for e in events if e["event_type"] in types]

    if name == "brute_force":
        (ip,) = facts["source_ips"]
        failures = [e for e in of("login.failure") if e["source_ip"] == ip]
        one_minute = [e for e in failures if datetime.fromisoformat(e["timestamp"]) < min(stamps) + MINUTE]
        assert len(one_minute) > 5 and len({e["actor_id"] for e in one_minute}) > 3
        assert most_actors_within(failures, 5 * MINUTE) == len(facts["actor_ids"]) and of("account.locked")
    elif name == "mfa_fatigue":
        pushes = [datetime.fromisoformat(e["timestamp"]) for e in of("mfa.challenge_issued")]
        assert most_within(pushes, 2 * MINUTE) > 5 and not of("mfa.success")
    elif name == "credential_stuffing":
        assert most_actors_within(of("mfa.failure"), 10 * MINUTE) >= 20
    elif name == "recovery_storm":
        assert most_actors_within(of("recovery.attempted"), 10 * MINUTE) == len(facts["actor_ids"]) >= 3
        assert len(of("recovery.attempted")) >= 15
    elif name == "lockout_cluster":
        assert most_actors_within(of("account.locked"), 5 * MINUTE) >= 5
    elif name == "impossible_travel":
        cities = [e["geo_location"]["city"] for e in of("login.success")]
        assert cities == ["Chennai", "Frankfurt"]
    elif name == "dormant_account":
        (actor,) = facts["actor_ids"]
        async with AkkuClient(f"{live}/api", KEY) as akku:
            user = await akku.get_user(actor)
            history = [e async for e in akku.iter_events(loaded_at - timedelta(days=100), actor_ids=[actor])]
        assert user.last_active_at and loaded_at - user.last_active_at > timedelta(days=90)
        assert of("login.success") and {e.event_id for e in history} == {e["event_id"] for e in events}
