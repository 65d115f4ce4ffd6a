"""The Akku simulator's state: a synthetic tenant, its events, writes, requests and faults.

The event log is kept in time order and capped (`max_events`, oldest dropped first); every
write is also offered, in write order, to each live stream subscriber and marked in the
reads summary (the judge of "no event skipped").
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clients.akku import adapter as api
from simulators.akku.reads import ReadsLog

OFFICE_CIDR = "198.51.100.0/24"  # the office, behind a trusted CIDR
VPN_EGRESS_CIDR = "192.0.2.0/24"  # the corporate VPN's egress range
ATTACKER_CIDR = "203.0.113.0/24"  # where the attacks come from
BREAK_GLASS = "u_breakglass"
ADMIN_ROLES = ("security_admin", "global_admin", "helpdesk_admin", "ivr_admin")

FIRST = ["asha", "ravi", "meera", "arjun", "lena", "tom", "sara", "omar", "yuki", "ines", "kofi", "nina", "li", "dev"]
LAST = ["iyer", "nair", "patel", "schmidt", "garcia", "okafor", "tanaka", "silva", "khan", "martin", "rossi", "chen"]
CITIES = {
    "Chennai": ("IN", 13.08, 80.27),
    "Bengaluru": ("IN", 12.97, 77.59),
    "Mumbai": ("IN", 19.08, 72.88),
    "Frankfurt": ("DE", 50.11, 8.68),
    "London": ("GB", 51.51, -0.13),
    "Sao Paulo": ("BR", -23.55, -46.63),
    "Hanoi": ("VN", 21.03, 105.85),
    "Lagos": ("NG", 6.52, 3.38),
    "Moscow": ("RU", 55.76, 37.62),
}
HOME = "Chennai"
MAX_EVENTS = 250_000  # the retention cap's default: about 170 MB of events (~670 bytes each)
SUBSCRIBER_BACKLOG = 100_000  # events a stream subscriber may fall behind by before it is cut off


def event_order(event: dict[str, Any]) -> tuple[str, str]:
    return event["timestamp"], event["event_id"]


class Subscriber:
    """One open stream: the events written since it connected that pass its filters, in write order."""

    def __init__(self, since: str, event_types: frozenset[str], limit: int = SUBSCRIBER_BACKLOG) -> None:
        self.since, self.event_types, self.limit = since, event_types, limit
        self.pending: deque[dict[str, Any]] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False
        self.closing = False  # set by DELETE /_sim/streams: end the stream at the next chance

    def close(self) -> None:
        self.closing = True
        self.ready.set()

    def offer(self, event: dict[str, Any]) -> bool:
        """Queue the event if it passes the filters; False once the subscriber fell too far behind."""
        if event["timestamp"] < self.since or (self.event_types and event["event_type"] not in self.event_types):
            return True
        if len(self.pending) >= self.limit:
            self.overflowed = True
            self.ready.set()
            return False
        self.pending.append(event)
        self.ready.set()
        return True


def ip_in(cidr: str, host: int) -> str:
    prefix = cidr.split("/")[0].rsplit(".", 1)[0]
    return f"{prefix}.{host % 254 + 1}"


@dataclass
class Store:
    seed: int
    now: datetime
    fixed_clock: bool = False  # True: scenarios happen at `now`; False: at the moment they are loaded
    staff: int = 200  # regular accounts u_10001...; storms and benchmarks ask for thousands
    max_events: int = MAX_EVENTS  # retention: the newest this many events are kept
    rng: random.Random = field(init=False)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    by_actor: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # each actor's events, in order
    writes: list[dict[str, Any]] = field(default_factory=list)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20_000))
    request_counts: Counter[str] = field(default_factory=Counter)  # "METHOD /path" -> requests, all time
    faults: dict[str, Any] | None = None
    fault_rng: random.Random = field(default_factory=random.Random)
    fault_strikes: Counter[int] = field(default_factory=Counter)  # stream fault rule index -> strikes
    fault_generation: int = 0  # bumped whenever the faults change (ends a stall early)
    used: set[str] = field(default_factory=set)  # actors already given a scenario
    subscribers: list[Subscriber] = field(default_factory=list)
    reads: ReadsLog = field(default_factory=ReadsLog)
    trimmed: int = 0  # events dropped by the retention cap, all time
    _ids: int = 0
    _touched: set[str] = field(default_factory=set)  # actors whose index fell out of order
    _unsorted: bool = False

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._populate()

    # --- ids and time ---------------------------------------------------------------------

    def clock(self) -> datetime:
        return self.now if self.fixed_clock else datetime.now(UTC)

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_{self.seed:02d}{self._ids:010d}"

    # --- population -----------------------------------------------------------------------

    def add_user(self, actor_id: str) -> None:
        """A new ordinary account (control route: tests shape it afterwards)."""
        self._user(actor_id)

    def _user(self, actor_id: str, *, roles: list[str] | None = None, last_active_days: float = 0.2) -> None:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        email = f"{first}.{last}.{actor_id.removeprefix('u_')}@example.com"
        roles = roles or []
        self.users[actor_id] = {
            "actor_id": actor_id,
            "email": email,
            "login": email,
            "display_name": f"{first.title()} {last.title()}",
            "status": "active",
            "roles": roles,
            "privileged": bool(roles) or actor_id == BREAK_GLASS,
            "created_at": api.timestamp(self.now - timedelta(days=400 + self.rng.randint(0, 600))),
            "last_active_at": api.timestamp(self.now - timedelta(days=last_active_days)),
            "mfa_methods": self.rng.choice([["push"], ["push", "TOTP"], ["FIDO2"], ["TOTP"]]),
            "password_reset_required": False,
        }

    def _populate(self) -> None:
        for n in range(self.staff):
            self._user(f"u_{10001 + n}", last_active_days=self.rng.uniform(0.05, 3))
        for n, role in enumerate(("security_admin", "global_admin", "helpdesk_admin", "ivr_admin")):
            self._user(f"u_admin{n + 1}", roles=[role])
        self._user(BREAK_GLASS, roles=["global_admin"], last_active_days=30)
        for n in range(5):
            self._user(f"u_{20001 + n}", last_active_days=120 + 20 * n)  # dormant: > 90 days
        # background: ordinary sign-ins over the last day, from the office or home
        for actor_id in [a for a in self.users if a.startswith("u_1")][:1000]:  # enough noise; fast start
            for _ in range(self.rng.randint(1, 3)):
                at = self.now - timedelta(hours=self.rng.uniform(1.5, 24))
                office = self.rng.random() < 0.6
                ip = (
                    ip_in(OFFICE_CIDR, self.rng.randint(1, 200))
                    if office
                    else f"100.64.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
                )
                self.sign_in(actor_id, at, ip, "Chennai" if office else "Bengaluru", known=True)
        # admins' own history: who assigned which roles in the last 90 days
        for n, role in enumerate(("helpdesk_admin", "ivr_admin")):
            for k in range(4):
                self.audit_event(
                    "u_admin3",
                    "role.assigned",
                    f"u_{10150 + 4 * n + k}",
                    role,
                    self.now - timedelta(days=10 + 15 * k + n),
                    ip_in(OFFICE_CIDR, 20),
                )
        self.settle()

    # --- writing events -------------------------------------------------------------------

    def event(
        self, event_type: str, actor_id: str, at: datetime, source_ip: str, city: str | None, **fields: Any
    ) -> None:
        geo = None
        if city:
            country, lat, lon = CITIES[city]
            geo = {"country_code": country, "city": city, "latitude": lat, "longitude": lon}
        record: dict[str, Any] = {
            "event_id": self.next_id("evt"),
            "event_type": event_type,
            "timestamp": api.timestamp(at),
            "actor_id": actor_id,
            "source_ip": source_ip,
            "user_agent": fields.pop("user_agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
            "geo_location": geo,
        }
        record.update(fields)
        key = event_order(record)
        if self.events and key < event_order(self.events[-1]):
            self._unsorted = True
        own = self.by_actor.setdefault(actor_id, [])
        if own and key < event_order(own[-1]):
            self._touched.add(actor_id)
        self.events.append(record)
        own.append(record)
        self.reads.written(record["event_id"])
        if self.subscribers and not all([s.offer(record) for s in self.subscribers]):
            self.subscribers = [s for s in self.subscribers if not s.overflowed]

    def settle(self) -> None:
        """Back into time order after a batch of new events (a scenario writes them out of order),
        then drop the oldest events beyond the retention cap, from the log and the actor index."""
        if self._unsorted:
            self.events.sort(key=event_order)
            self._unsorted = False
        for actor_id in self._touched:
            self.by_actor[actor_id].sort(key=event_order)
        self._touched.clear()
        excess = len(self.events) - self.max_events
        if excess > 0:
            dropped = Counter(e["actor_id"] for e in self.events[:excess])
            del self.events[:excess]
            for actor_id, count in dropped.items():  # the oldest overall are the oldest of each actor
                del self.by_actor[actor_id][:count]
                if not self.by_actor[actor_id]:
                    del self.by_actor[actor_id]
            self.trimmed += excess

    def risk(
        self, *, known: bool, reputation: str = "good", unusual: bool = False, anomaly: bool = False
    ) -> dict[str, Any]:
        level = (
            "low"
            if known and reputation == "good" and not unusual
            else "high"
            if not known and (reputation in ("suspicious", "malicious") or unusual)
            else "medium"
        )
        return {
            "risk_level": level,
            "geo_anomaly": anomaly,
            "ip_reputation": reputation,
            "unusual_time": unusual,
            "device_known": known,
        }

    def sign_in(
        self, actor_id: str, at: datetime, ip: str, city: str, *, known: bool, reputation: str = "good"
    ) -> None:
        risk = self.risk(known=known, reputation=reputation, anomaly=city not in ("Chennai", "Bengaluru"))
        method = self.users[actor_id]["mfa_methods"][0]
        self.event("mfa.challenge_issued", actor_id, at, ip, city, mfa_method=method, risk_context=risk)
        self.event(
            "mfa.success",
            actor_id,
            at + timedelta(seconds=4),
            ip,
            city,
            mfa_method=method,
            outcome="success",
            risk_context=risk,
        )
        self.event("login.success", actor_id, at + timedelta(seconds=5), ip, city, outcome="success", risk_context=risk)

    def audit_event(self, admin: str, action: str, target: str, role: str, at: datetime, ip: str) -> None:
        self.audit.append(
            {
                "event_id": self.next_id("aud"),
                "timestamp": api.timestamp(at),
                "action": action,
                "actor_id": admin,
                "target_id": target,
                "role": role,
                "source_ip": ip,
                "geo_location": {"country_code": "IN", "city": "Chennai", "latitude": 13.08, "longitude": 80.27},
            }
        )
        self.audit.sort(key=lambda e: (e["timestamp"], e["event_id"]))

    def pick(self, count: int, prefix: str = "u_1") -> list[str]:
        """Fresh actors for a scenario (each scenario load gets people no earlier load used)."""
        pool = [a for a in self.users if a.startswith(prefix) and a not in self.used]
        chosen = sorted(self.rng.sample(pool, min(count, len(pool))))
        self.used.update(chosen)
        return chosen
