"""Every seed rule at its boundary, end to end: events written into the Akku simulator, the alert
posted as generic JSON to the gateway, the real workflows deciding, Akku's write log and the
investigations' status as the judges. One stack for the whole table (the rows run at once, each
on fresh accounts); the table is the one in docs/playbooks.md ("Seed rules at their thresholds").
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from cli import driver
from cli.rig import running_stack
from cli.stack import Stack
from clients.akku.adapter import timestamp
from playbooks.scoring import haversine_km
from riposte.models.evidence import GeoPoint
from riposte.models.runs import InvestigationStatus
from simulators.akku.store import CITIES, Store

BENIGN = {
    "risk_level": "low",
    "geo_anomaly": False,
    "ip_reputation": "good",
    "unusual_time": False,
    "device_known": True,
}
OFFICE = "198.51.100"  # the playbooks' trusted_cidrs
VPN = "192.0.2"  # the playbooks' vpn_egress_cidrs
PUBLIC = "203.0.113"


@dataclass
class Rig:
    """What a row needs: the stack, an HTTP client, the time the rows are set at, fresh names."""

    stack: Stack
    http: httpx.AsyncClient
    now: datetime
    tag: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def actor(self, name: str) -> str:
        return f"u_{self.tag}_{name}"

    def event(self, event_type: str, actor: str, ago: timedelta, ip: str, **fields: Any) -> None:
        self.events.append(
            {
                "event_type": event_type,
                "actor_id": actor,
                "timestamp": timestamp(self.now - ago),
                "source_ip": ip,
                "risk_context": BENIGN,
                **fields,
            }
        )

    async def user(self, actor: str, **fields: Any) -> None:
        answer = await self.http.patch(f"{driver.simulator_root(self.stack.akku_url)}/_sim/users/{actor}", json=fields)
        assert answer.status_code == 200, answer.text

    def store(self) -> Store:
        """The simulator's own store, for admin audit events (it has no control route for those)."""
        assert self.stack.akku_url
        port = int(self.stack.akku_url.split(":")[-1].split("/")[0])
        app = next(s.config.app for s in self.stack.servers if s.config.port == port)
        assert isinstance(app, FastAPI)
        store: Store = app.state.store
        return store


@dataclass(frozen=True)
class Alert:
    detection: str
    actors: list[str]
    severity: str = "medium"
    source_ips: list[str] = field(default_factory=list)


Setup = Callable[[Rig], Awaitable[list[Alert]]]


@dataclass(frozen=True)
class Row:
    id: str
    setup: Setup
    stage: str  # every investigation the row opens ends here
    factor: str  # the seed rule's factor
    fires: bool
    detail: str = ""  # in the factor's words, when it fires
    writes: frozenset[str] = frozenset()  # Akku actions applied to each account (approve=True rows: on approval)
    approve: bool | None = None  # None: leave approval requests pending; True: click the first acting option
    writes_to: str | None = None  # the account (by rig name) the writes go to, when not the investigated one
    points: float | None = None  # the factor's points, where the row is about its size


# --- the rows' set-ups --------------------------------------------------------------------


def pushes(count: int) -> Setup:
    async def setup(rig: Rig) -> list[Alert]:
        actor = rig.actor(f"push{count}")
        await rig.user(actor, mfa_methods=["push"])
        for k in range(count):  # all within 75 s, none approved
            rig.event("mfa.challenge_issued", actor, timedelta(seconds=100 - 15 * k), f"{PUBLIC}.77", mfa_method="push")
        return [Alert("mfa_fatigue", [actor])]

    return setup


def spray(prefix: str, host: int, failures: int, users: int) -> Setup:
    """`failures` sign-in failures spread over `users` accounts from one address."""

    async def setup(rig: Rig) -> list[Alert]:
        ip = f"{prefix}.{host}"
        actors = [rig.actor(f"spray{host}_{n}") for n in range(users)]
        await asyncio.gather(*(rig.user(a) for a in actors))
        for k in range(failures):
            rig.event("login.failure", actors[k % users], timedelta(minutes=20 - k * 0.5), ip, outcome="failure")
        return [Alert("brute_force", actors, source_ips=[ip])]

    return setup


async def stuffing_per_row(rig: Rig) -> list[Alert]:
    """20 accounts fail from one address; the SIEM sends one webhook per result row."""
    actors = [rig.actor(f"stuffed{n}") for n in range(20)]
    await asyncio.gather(*(rig.user(a) for a in actors))
    for n, actor in enumerate(actors):
        ago = timedelta(minutes=15, seconds=-20 * n)
        rig.event("login.failure", actor, ago, f"{PUBLIC}.201", outcome="failure")
        rig.event(
            "mfa.failure", actor, ago - timedelta(seconds=3), f"{PUBLIC}.201", mfa_method="TOTP", outcome="failure"
        )
    return [Alert("credential_stuffing", [a], severity="high") for a in actors]


async def recovery_per_row(rig: Rig) -> list[Alert]:
    """10 accounts get one recovery attempt each from one address; one webhook per account."""
    actors = [rig.actor(f"recover{n}") for n in range(10)]
    await asyncio.gather(*(rig.user(a) for a in actors))
    for n, actor in enumerate(actors):
        rig.event(
            "recovery.attempted",
            actor,
            timedelta(minutes=10 - n),
            f"{PUBLIC}.202",
            recovery_method="sms_otp",
            outcome="failure",
        )
    return [Alert("recovery_storm", [a]) for a in actors]


def travel(speed_kmh: float, second_ip: str) -> Setup:
    """Chennai, then Mumbai as fast as `speed_kmh` (about 1,030 km: inside the 2 h lookback)."""

    async def setup(rig: Rig) -> list[Alert]:
        actor = rig.actor(f"travel{int(speed_kmh)}_{second_ip.split('.')[0]}")
        await rig.user(actor)
        here, there = (
            GeoPoint(at=rig.now, event_type="x", latitude=CITIES[c][1], longitude=CITIES[c][2])
            for c in ("Chennai", "Mumbai")
        )
        taken = timedelta(hours=haversine_km(here, there) / speed_kmh)
        rig.event("login.success", actor, timedelta(minutes=3) + taken, "100.64.7.7", city="Chennai", outcome="success")
        rig.event("login.success", actor, timedelta(minutes=3), second_ip, city="Mumbai", outcome="success")
        return [Alert("impossible_travel", [actor])]

    return setup


def dormant(days: int) -> Setup:
    """The last success `days` ago, then a sign-in now; Akku's last_active_at already shows it."""

    async def setup(rig: Rig) -> list[Alert]:
        actor = rig.actor(f"dormant{days}")
        await rig.user(actor, last_active_at=timestamp(rig.now))
        rig.event("login.success", actor, timedelta(days=days), f"{OFFICE}.232", city="Chennai", outcome="success")
        rig.event("login.success", actor, timedelta(minutes=5), f"{OFFICE}.232", city="Chennai", outcome="success")
        return [Alert("dormant_account", [actor])]

    return setup


def elevation(role: str) -> Setup:
    """An admin who assigned helpdesk_admin a month ago now assigns `role`."""

    async def setup(rig: Rig) -> list[Alert]:
        admin, target = rig.actor(f"admin_{role}"), rig.actor(f"target_{role}")
        await rig.user(admin, roles=["helpdesk_admin"], privileged=True)
        await rig.user(target, roles=[role], privileged=True)
        store = rig.store()
        store.audit_event(
            admin, "role.assigned", rig.actor("earlier"), "helpdesk_admin", rig.now - timedelta(days=30), f"{OFFICE}.20"
        )
        store.audit_event(admin, "role.assigned", target, role, rig.now - timedelta(minutes=3), f"{OFFICE}.20")
        return [Alert("admin_elevation", [admin], severity="critical")]

    return setup


ROWS = [
    Row(
        "mfa-fatigue 6 pushes",
        pushes(6),
        "acted",
        "push_flood",
        True,
        "6 in 2 min",
        frozenset({"mfa_reset", "password_reset"}),
    ),
    Row("mfa-fatigue 5 pushes", pushes(5), "observed", "push_flood", False),
    Row(
        "brute-force 6 failures 4 users",
        spray(PUBLIC, 61, 6, 4),
        "waiting_for_approval",
        "brute_force_ip",
        True,
        "risk 24",
    ),
    Row("brute-force 5 failures 4 users", spray(PUBLIC, 62, 5, 4), "observed", "brute_force_ip", False),
    Row("brute-force 6 failures 3 users", spray(PUBLIC, 63, 6, 3), "observed", "brute_force_ip", False),
    Row("brute-force office 6 failures 4 users", spray(OFFICE, 241, 6, 4), "observed", "brute_force_ip", False),
    Row(
        "brute-force office 16 failures 10 users",
        spray(OFFICE, 242, 16, 10),
        "waiting_for_approval",
        "brute_force_ip",
        True,
        "raised thresholds",
    ),
    Row(
        "credential-stuffing 20 one-person webhooks",
        stuffing_per_row,
        "notified",
        "spread",
        True,
        "20 accounts failed from the same addresses",
        points=25,  # full weight: as if one alert had named all twenty
    ),
    Row(
        "recovery-storm 10 one-person webhooks",
        recovery_per_row,
        "notified",
        "recovery_spread",
        True,
        "10 accounts had recovery attempts",
        points=30,
    ),
    Row(
        "impossible-travel 1100 km/h",
        travel(1100, f"{PUBLIC}.88"),
        "waiting_for_approval",
        "impossible_travel",
        True,
        "Chennai → Mumbai",
    ),
    Row("impossible-travel 900 km/h", travel(900, f"{PUBLIC}.89"), "observed", "impossible_travel", False),
    Row(
        "impossible-travel 1100 km/h via VPN egress", travel(1100, f"{VPN}.10"), "observed", "impossible_travel", False
    ),
    Row("dormant 91 days", dormant(91), "waiting_for_approval", "dormant", True, "91 days"),
    Row("dormant 89 days", dormant(89), "observed", "dormant", False),
    Row(
        "admin-elevation new role",
        elevation("security_admin"),
        "approved",
        "role_outside_history",
        True,
        "security_admin",
        frozenset({"role_revoke"}),
        approve=True,
        writes_to="target_security_admin",
    ),
    Row("admin-elevation known role", elevation("helpdesk_admin"), "notified", "role_outside_history", False),
]


# --- running the table --------------------------------------------------------------------


@dataclass
class Outcome:
    tag: str
    people: set[str]  # everyone the row's alerts name
    statuses: dict[str, InvestigationStatus]
    writes: list[dict[str, Any]] = field(default_factory=list)  # Akku's whole write log
    requests: list[dict[str, Any]] = field(default_factory=list)  # Slack approval requests about the row's people
    in_digest: bool = False  # some of them wait in an approval digest (a wave of requests: one message)


@pytest.fixture(scope="module")
async def outcomes(client: Client) -> AsyncIterator[dict[str, Outcome]]:
    async with running_stack(client, f"tq-seed-{uuid.uuid4().hex[:8]}") as stack, httpx.AsyncClient(timeout=30) as http:
        rig = Rig(stack, http, datetime.now(UTC), uuid.uuid4().hex[:6])
        alerts = await asyncio.gather(*(row.setup(rig) for row in ROWS))
        answer = await http.post(f"{driver.simulator_root(stack.akku_url)}/_sim/events", json={"events": rig.events})
        assert answer.status_code == 200, answer.text
        fired = await asyncio.gather(*(fire(stack, http, a) for row_alerts in alerts for a in row_alerts))
        by_row, start = [], 0
        for row, row_alerts in zip(ROWS, alerts, strict=True):
            by_row.append((row, fired[start : start + len(row_alerts)]))
            start += len(row_alerts)
        settled = await asyncio.gather(
            *(driver.settle(stack, f, approve=row.approve, timeout=60, http=http) for row, fs in by_row for f in fs)
        )
        results: dict[str, Outcome] = {}
        position = 0
        for row, fs in by_row:
            statuses = {k: v for s in settled[position : position + len(fs)] for k, v in s.items()}
            position += len(fs)
            for workflow_id in statuses if row.approve else ():
                statuses[workflow_id] = await driver.wait_for_stage(stack.client, workflow_id, row.stage)
            people = {a for alert in alerts[ROWS.index(row)] for a in alert.actors}
            results[row.id] = Outcome(rig.tag, people, statuses)
        asked = {
            s.actor_id
            for row, o in zip(ROWS, results.values(), strict=True)
            if row.stage in ASKED
            for s in o.statuses.values()
        }
        requests = await approval_requests(stack, http, asked)
        writes = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()["writes"]
        digests = await digest_texts(stack, http)
        for outcome in results.values():
            outcome.writes = writes
            outcome.requests = [m for a in (s.actor_id for s in outcome.statuses.values()) for m in requests.get(a, [])]
            waiting = [s for s in outcome.statuses.values() if s.pending is not None]
            named = {d.value.replace("_", " ") for s in waiting for d in s.detections}
            outcome.in_digest = any(n in text for n in named for text in digests)
        yield results


ASKED = ("waiting_for_approval", "approved")


async def digest_texts(stack: Stack, http: httpx.AsyncClient) -> list[str]:
    """The approval digests in the channel (a wave of requests from one playbook: one message)."""
    assert stack.slack_url
    messages = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")).json()["messages"]
    return [json.dumps(m).lower() for m in messages if "riposte_digest" in json.dumps(m["blocks"])]


async def approval_requests(
    stack: Stack, http: httpx.AsyncClient, expected: set[str], timeout: float = 15
) -> dict[str, list[dict[str, Any]]]:
    """Slack messages that carried buttons (approval requests), by the person they are about;
    waits until each expected person has one (they are posted just after the run starts waiting)."""
    assert stack.slack_url
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        messages = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")).json()["messages"]
        found: dict[str, list[dict[str, Any]]] = {}
        for m in messages:
            versions = [m["blocks"], *(u["blocks"] for u in m["updates"])]
            if any(b["type"] == "actions" for blocks in versions for b in blocks):
                actor = next((a for a in expected if f"`{a}`" in json.dumps(m)), None)
                found.setdefault(actor or json.dumps(m["blocks"][:1]), []).append(m)
        digest = any("riposte_digest" in json.dumps(m["blocks"]) for m in messages)
        if expected <= set(found) or digest or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def fire(stack: Stack, http: httpx.AsyncClient, alert: Alert) -> driver.Fired:
    body = {
        "alert_id": f"seed-{uuid.uuid4().hex}",
        "rule_name": f"seed rule: {alert.detection}",
        "detection": alert.detection,
        "severity": alert.severity,
        "actors": [{"id": a} for a in alert.actors],
        "source_ips": alert.source_ips,
    }
    token = stack.settings.riposte_webhook_token
    assert token is not None
    answer = await http.post(
        f"{stack.gateway_url}/webhooks/generic",
        json=body,
        headers={"Authorization": f"Bearer {token.get_secret_value()}"},
    )
    assert answer.status_code == 202, answer.text
    return driver.Fired("seed-rule", "generic", {}, answer.json()["workflow_id"], "started", datetime.now(UTC))


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_each_seed_rule_at_its_boundary(outcomes: dict[str, Outcome], row: Row) -> None:
    outcome = outcomes[row.id]
    assert {s.actor_id for s in outcome.statuses.values()} == outcome.people, row.id  # one investigation each
    for workflow_id, status in outcome.statuses.items():
        where = (
            row.id,
            workflow_id,
            status.stage,
            status.score,
            [f"{f.name} {f.points}: {f.detail}" for f in status.factors],
        )
        assert status.stage == row.stage, where
        factor = next((f for f in status.factors if f.name == row.factor), None)
        assert (factor is not None) is row.fires, where
        if factor is not None:
            assert row.detail in factor.detail, where
            assert row.points is None or factor.points == row.points, where
        account = f"u_{outcome.tag}_{row.writes_to}" if row.writes_to else status.actor_id
        applied = {w["action"] for w in outcome.writes if w["actor_id"] == account and w["status"] == "applied"}
        assert applied == set(row.writes), where
        if row.writes_to:
            assert status.actor_id not in {w["actor_id"] for w in outcome.writes}, where
    assert bool(outcome.requests or outcome.in_digest) is (row.stage in ASKED), (row.id, outcome.requests)
    if row.factor == "role_outside_history":
        assert all("P1 admin elevation" in json.dumps(m["blocks"]) for m in outcome.requests)
