"""The rules over Akku's authentication events: pure, no I/O, one event at a time.

`Detector.process(event)` counts the event into each rule's windows and returns the
firings it caused. A rule fires once per key per window: after firing for key K at event
time t it stays quiet for K until t + window. A firing's dedup key is
`akku:{rule}:{key}:{window start}`, a function of the events alone, so re-reading the
same events after a restart gives the same key (and Temporal refuses the duplicate run).

The dormant rule needs each account's last activity before the detector saw it: the
caller looks those up (`needs_lookup`, then `seed_last_active`) before processing.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from clients.akku.models import FAILURE_TYPES, AuthEvent
from detect.config import Rule, RuleConfig
from detect.models import Suppression
from detect.windows import Keyed, Recent, Window
from riposte.models.alert import ActorRef, Alert, IdentityKind, Source

MAX_KEYS = 50_000  # per rule: IPs or accounts with live state; the least recently seen go first
MIN_CAP = 256  # entries per window at least; 8x the rule's threshold when that is more
MAX_SUPPRESSIONS = 10_000
ACTORS_IN_ALERT = 500
IPS_IN_ALERT = 100
ALL = "all"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


@dataclass(frozen=True)
class Firing:
    config: RuleConfig
    key: str
    window_start: float
    window_end: float
    actors: tuple[str, ...]
    source_ips: tuple[str, ...]
    detail: str

    @property
    def rule(self) -> Rule:
        return self.config.rule

    @property
    def dedup_key(self) -> str:
        return f"akku:{self.rule.value}:{self.key}:{iso(self.window_start)}"

    def alert(self, received_at: datetime) -> Alert:
        return Alert(
            source=Source.AKKU,
            dedup_key=self.dedup_key,
            rule_name=self.config.title,
            detection=self.config.detection,
            severity=self.config.severity,
            actors=[ActorRef(kind=IdentityKind.AKKU_ID, value=a) for a in self.actors],
            source_ips=list(self.source_ips),
            window_start=datetime.fromtimestamp(self.window_start, UTC),
            window_end=datetime.fromtimestamp(self.window_end, UTC),
            received_at=received_at,
            raw=self.detail[:2000],
        )


@dataclass
class SignIn:
    at: float
    latitude: float
    longitude: float
    ip: str
    city: str


class Detector:
    def __init__(self, configs: dict[Rule, RuleConfig], *, max_keys: int = MAX_KEYS) -> None:
        self.configs = configs
        self.max_keys = max_keys
        self.windows: dict[Rule, Keyed] = {}
        for rule, config in configs.items():
            if rule in (Rule.IMPOSSIBLE_TRAVEL, Rule.DORMANT_ACCOUNT):
                continue
            cap = max(MIN_CAP, 8 * math.ceil(config.threshold * config.multiplier))
            self.windows[rule] = Keyed(config.window.total_seconds(), cap, max_keys)
        self.sign_ins: Recent[SignIn] = Recent(max_keys)
        self.last_seen: Recent[float | None] = Recent(max_keys)
        self.suppressed: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self.newest = float("-inf")
        self._trusted: dict[tuple[Rule, str], bool] = {}

    # --- the rules --------------------------------------------------------------------

    def process(self, event: AuthEvent) -> list[Firing]:
        at = event.timestamp.timestamp()
        self.newest = max(self.newest, at)
        kind, actor, ip = event.event_type, event.actor_id, event.source_ip or ""
        fired: list[Firing] = []
        if kind == "mfa.failure":
            self._stuffing(at, actor, ip, fired)
        if kind in FAILURE_TYPES:
            self._brute_force(at, actor, ip, fired)
        elif kind == "account.locked":
            self._distinct(Rule.LOCKOUT_CLUSTER, at, actor, ip, fired)
        elif kind == "recovery.attempted":
            self._distinct(Rule.RECOVERY_STORM, at, actor, ip, fired)
        elif kind == "mfa.challenge_issued" and event.mfa_method == "push":
            self._push(at, actor, ip, fired)
        elif kind == "mfa.success" and Rule.PUSH_FLOOD in self.windows:
            self.windows[Rule.PUSH_FLOOD].clear(actor)
        elif kind == "login.success":
            self._dormant(at, actor, ip, fired)
            self._travel(event, at, actor, ip, fired)
        return fired

    def _stuffing(self, at: float, actor: str, ip: str, fired: list[Firing]) -> None:
        config = self.configs.get(Rule.MFA_FAILURE_SPIKE)
        if config is None:
            return
        trusted = self._in(Rule.MFA_FAILURE_SPIKE, config.trusted, ip)
        windows = self.windows[Rule.MFA_FAILURE_SPIKE]
        if ip:
            need = config.per_ip * (config.multiplier if trusted else 1)
            window = windows.add(f"ip:{ip}", at, actor, ip)
            if window is not None and window.distinct >= need:
                self._fire(config, f"ip:{ip}", at, window, fired, f"{window.distinct} accounts failed MFA from {ip}")
        if trusted:  # the office: counted per address only, at raised thresholds
            return
        window = windows.add(ALL, at, actor, ip)
        if window is not None and window.distinct >= config.threshold:
            self._fire(config, ALL, at, window, fired, f"{window.distinct} accounts failed MFA")

    def _brute_force(self, at: float, actor: str, ip: str, fired: list[Firing]) -> None:
        config = self.configs.get(Rule.BRUTE_FORCE_IP)
        if config is None or not ip:
            return
        m = config.multiplier if self._in(Rule.BRUTE_FORCE_IP, config.trusted, ip) else 1
        window = self.windows[Rule.BRUTE_FORCE_IP].add(ip, at, actor, ip)
        if window is not None and window.count > config.threshold * m and window.distinct > config.per_ip * m:
            detail = f"{ip}: {window.count} failures across {window.distinct} users"
            self._fire(config, f"ip:{ip}", at, window, fired, detail)

    def _distinct(self, rule: Rule, at: float, actor: str, ip: str, fired: list[Firing]) -> None:
        config = self.configs.get(rule)
        if config is None:
            return
        window = self.windows[rule].add(ALL, at, actor, ip)
        if window is not None and window.distinct >= config.threshold:
            self._fire(config, ALL, at, window, fired, f"{window.distinct} accounts ({window.count} events)")

    def _push(self, at: float, actor: str, ip: str, fired: list[Firing]) -> None:
        config = self.configs.get(Rule.PUSH_FLOOD)
        if config is None:
            return
        window = self.windows[Rule.PUSH_FLOOD].add(actor, at, actor, ip)
        if window is not None and window.count > config.threshold:
            self._fire(config, actor, at, window, fired, f"{window.count} push challenges, none approved")

    def _dormant(self, at: float, actor: str, ip: str, fired: list[Firing]) -> None:
        config = self.configs.get(Rule.DORMANT_ACCOUNT)
        if config is None:
            return
        before = self.last_seen.get(actor)
        self.last_seen.put(actor, at if before is None else max(before, at))
        if before is None:
            return
        days = (at - before) / 86400
        if days > config.threshold and not self._quiet(config, actor, at):
            detail = f"first sign-in after {days:.0f} days without any"
            fired.append(self._note(config, actor, at, at, (actor,), (ip,) if ip else (), detail))

    def _travel(self, event: AuthEvent, at: float, actor: str, ip: str, fired: list[Firing]) -> None:
        config = self.configs.get(Rule.IMPOSSIBLE_TRAVEL)
        geo = event.geo_location
        if config is None or geo is None or geo.latitude is None or geo.longitude is None:
            return
        if self._in(Rule.IMPOSSIBLE_TRAVEL, config.vpn, ip):
            return  # VPN egress: where the VPN is, not where the person is
        here = SignIn(at, geo.latitude, geo.longitude, ip, geo.city or geo.country_code or "?")
        before = self.sign_ins.get(actor)
        if before is None or at >= before.at:
            self.sign_ins.put(actor, here)
        if before is None:
            return
        first, second = (before, here) if before.at <= at else (here, before)
        distance = haversine_km(first.latitude, first.longitude, second.latitude, second.longitude)
        hours = max((second.at - first.at) / 3600, 1 / 60)
        speed = distance / hours
        if distance >= config.min_distance_km and speed > config.threshold and not self._quiet(config, actor, at):
            detail = f"{first.city} → {second.city}: {distance:,.0f} km in {hours * 60:.0f} min = {speed:,.0f} km/h"
            ips = tuple(dict.fromkeys(i for i in (first.ip, second.ip) if i))
            fired.append(self._note(config, actor, first.at, second.at, (actor,), ips, detail))

    # --- firing and quiet periods -----------------------------------------------------

    def _fire(self, config: RuleConfig, key: str, at: float, window: Window, fired: list[Firing], detail: str) -> None:
        if self._quiet(config, key, at):
            return
        start = at - config.window.total_seconds()
        actors = tuple(window.accounts(ACTORS_IN_ALERT))
        fired.append(self._note(config, key, start, at, actors, tuple(window.ips(IPS_IN_ALERT)), detail))

    def _quiet(self, config: RuleConfig, key: str, at: float) -> bool:
        held = self.suppressed.get((config.rule.value, key))
        return held is not None and at < held[0]

    def _note(
        self,
        config: RuleConfig,
        key: str,
        start: float,
        end: float,
        actors: tuple[str, ...],
        ips: tuple[str, ...],
        detail: str,
    ) -> Firing:
        firing = Firing(config, key, start, end, actors, ips, detail)
        slot = (config.rule.value, key)
        self.suppressed[slot] = (end + config.window.total_seconds(), firing.dedup_key)
        self.suppressed.move_to_end(slot)
        while len(self.suppressed) > MAX_SUPPRESSIONS:
            self.suppressed.popitem(last=False)
        return firing

    def _in(self, rule: Rule, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network], ip: str) -> bool:
        if not ip:
            return False
        slot = (rule, ip)
        found = self._trusted.get(slot)
        if found is None:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                found = False
            else:
                found = any(address in n for n in networks)
            if len(self._trusted) > self.max_keys:
                self._trusted.clear()
            self._trusted[slot] = found
        return found

    # --- state: lookups, expiry, checkpoints ------------------------------------------

    def needs_lookup(self, events: Iterable[AuthEvent]) -> list[str]:
        """Accounts signing in whose last activity before the detector is not known yet."""
        if Rule.DORMANT_ACCOUNT not in self.configs:
            return []
        wanted = {e.actor_id for e in events if e.event_type == "login.success"}
        return sorted(a for a in wanted if a not in self.last_seen)

    def seed_last_active(self, actor: str, at: datetime | None) -> None:
        """Akku's last_active_at for an account (None: unknown, so no baseline to compare with)."""
        if actor not in self.last_seen:
            self.last_seen.put(actor, at.timestamp() if at is not None else None)

    def expire(self) -> None:
        for keyed in self.windows.values():
            keyed.expire(self.newest)
        for slot in [s for s, (until, _) in self.suppressed.items() if until <= self.newest]:
            del self.suppressed[slot]

    def oldest_needed(self) -> datetime | None:
        """The oldest event any window still counts: re-reading from here rebuilds every window."""
        found = [t for keyed in self.windows.values() if (t := keyed.oldest()) is not None]
        return datetime.fromtimestamp(min(found), UTC) if found else None

    def suppressions(self, limit: int = MAX_SUPPRESSIONS) -> list[Suppression]:
        """The quiet periods in force, the newest `limit` of them."""
        items = list(self.suppressed.items())[-limit:]
        return [
            Suppression(rule=rule, key=key, until=datetime.fromtimestamp(until, UTC), dedup_key=dedup)
            for (rule, key), (until, dedup) in items
        ]

    def restore(self, suppressions: Iterable[Suppression]) -> None:
        for s in suppressions:
            self.suppressed[(s.rule, s.key)] = (s.until.timestamp(), s.dedup_key)

    def keys(self) -> dict[str, int]:
        """Live keys per rule (and the two per-account maps): the state's size."""
        sizes = {rule.value: len(keyed) for rule, keyed in self.windows.items()}
        sizes["sign_ins"], sizes["last_seen"] = len(self.sign_ins), len(self.last_seen)
        return sizes
