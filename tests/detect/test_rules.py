"""The detector's rules at their boundaries: each fires at its threshold and not below it.

Pure: detect/ over hand-made events, thresholds read from the real playbooks.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.rig import REPO, playbooks_with
from clients.akku.models import AuthEvent
from detect.config import Rule, rule_configs
from detect.engine import Detector, Firing
from playbooks.loader import PlaybookSet

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
CITY = {
    "Chennai": (13.08, 80.27),
    "Bengaluru": (12.97, 77.59),
    "Frankfurt": (50.11, 8.68),
}
_ids = itertools.count(1)


def ev(
    kind: str, actor: str, at: timedelta, ip: str = "203.0.113.9", city: str | None = None, **extra: Any
) -> AuthEvent:
    geo = None
    if city:
        lat, lon = CITY[city]
        geo = {"city": city, "latitude": lat, "longitude": lon}
    return AuthEvent.model_validate(
        {
            "event_id": f"evt_{next(_ids):08d}",
            "event_type": kind,
            "timestamp": T0 + at,
            "actor_id": actor,
            "source_ip": ip,
            "geo_location": geo,
            **extra,
        }
    )


def detector(playbooks: Path | None = None, **kwargs: Any) -> Detector:
    return Detector(rule_configs(PlaybookSet.load(playbooks or REPO / "playbooks")), **kwargs)


def feed(d: Detector, events: list[AuthEvent]) -> list[Firing]:
    return [f for e in events for f in d.process(e)]


def fired(firings: list[Firing], rule: Rule) -> list[Firing]:
    return [f for f in firings if f.rule is rule]


def mfa_failures(n: int, *, ip: str | None = None, start: int = 0, step: float = 10) -> list[AuthEvent]:
    """n accounts failing MFA, each from its own untrusted IP unless `ip` is given."""
    return [
        ev("mfa.failure", f"u_{start + i}", timedelta(seconds=step * (start + i)), ip or f"203.0.113.{start + i + 1}")
        for i in range(n)
    ]


def test_thresholds_come_from_the_playbooks() -> None:
    configs = rule_configs(PlaybookSet.load(REPO / "playbooks"))
    assert set(configs) == set(Rule)
    assert configs[Rule.PUSH_FLOOD].threshold == 5 and configs[Rule.PUSH_FLOOD].window == timedelta(minutes=2)
    assert configs[Rule.BRUTE_FORCE_IP].threshold == 5 and configs[Rule.BRUTE_FORCE_IP].per_ip == 3
    assert configs[Rule.IMPOSSIBLE_TRAVEL].threshold == 1000
    assert configs[Rule.DORMANT_ACCOUNT].threshold == 90
    assert configs[Rule.MFA_FAILURE_SPIKE].threshold == 10 and configs[Rule.MFA_FAILURE_SPIKE].per_ip == 5
    assert configs[Rule.MFA_FAILURE_SPIKE].multiplier == 3


def test_a_playbook_change_moves_the_rule(tmp_path: Path) -> None:
    folder = playbooks_with(tmp_path, "credential-stuffing", "distinct_accounts: 10 ", "distinct_accounts: 4 ")
    d = detector(folder)
    assert not fired(feed(d, mfa_failures(3)), Rule.MFA_FAILURE_SPIKE)
    assert fired(feed(d, mfa_failures(1, start=3)), Rule.MFA_FAILURE_SPIKE)


def test_a_detection_without_a_playbook_or_disabled_is_off(tmp_path: Path) -> None:
    folder = playbooks_with(tmp_path, "mfa-fatigue", "  severity: high ", "  enabled: false\n  severity: high ")
    (folder / "recovery-storm.yaml").unlink()
    configs = rule_configs(PlaybookSet.load(folder))
    assert Rule.PUSH_FLOOD not in configs and Rule.RECOVERY_STORM not in configs
    assert Rule.MFA_FAILURE_SPIKE in configs


def test_mfa_failure_spike_across_accounts_fires_at_ten_not_nine() -> None:
    d = detector()
    assert not fired(feed(d, mfa_failures(9)), Rule.MFA_FAILURE_SPIKE)
    tenth = fired(feed(d, mfa_failures(1, start=9)), Rule.MFA_FAILURE_SPIKE)
    assert [f.key for f in tenth] == ["all"]
    assert len(tenth[0].actors) == 10
    assert (
        tenth[0].dedup_key
        == f"akku:mfa_failure_spike:all:{(T0 + timedelta(seconds=90 - 600)).isoformat(timespec='milliseconds').replace('+00:00', 'Z')}"
    )
    # once per window: quiet until t + 10 min, then a new window fires again
    assert not fired(feed(d, mfa_failures(5, start=10)), Rule.MFA_FAILURE_SPIKE)
    later = [
        ev("mfa.failure", f"u_{100 + i}", timedelta(minutes=12, seconds=i), f"203.0.113.{100 + i}") for i in range(10)
    ]
    again = fired(feed(d, later), Rule.MFA_FAILURE_SPIKE)
    assert [f.key for f in again] == ["all"] and again[0].dedup_key != tenth[0].dedup_key


def test_mfa_failures_spread_over_more_than_the_window_do_not_fire() -> None:
    d = detector()
    assert not fired(feed(d, mfa_failures(20, step=70)), Rule.MFA_FAILURE_SPIKE)  # 9 in any 10 minutes


def test_mfa_failure_spike_from_one_ip_fires_at_five() -> None:
    d = detector()
    assert not fired(feed(d, mfa_failures(4, ip="203.0.113.50")), Rule.MFA_FAILURE_SPIKE)
    fifth = fired(feed(d, mfa_failures(1, ip="203.0.113.50", start=4)), Rule.MFA_FAILURE_SPIKE)
    assert [f.key for f in fifth] == ["ip:203.0.113.50"]
    assert fifth[0].source_ips == ("203.0.113.50",)


def test_trusted_networks_raise_the_threshold_by_the_multiplier() -> None:
    d = detector()
    office = "198.51.100.40"
    assert not fired(feed(d, mfa_failures(14, ip=office)), Rule.MFA_FAILURE_SPIKE)  # 5 x 3 = 15
    assert [f.key for f in feed(d, mfa_failures(1, ip=office, start=14))] == [f"ip:{office}"]
    # the office counts per address only: 50 agents on their own office IPs never make an "all" spike
    d = detector()
    agents = [ev("mfa.failure", f"u_{i}", timedelta(seconds=i), f"198.51.100.{i + 1}") for i in range(50)]
    assert not feed(d, agents)


def test_brute_force_by_ip_needs_more_than_five_failures_and_more_than_three_users() -> None:
    ip = "203.0.113.66"

    def attempts(users: int, failures: int) -> list[AuthEvent]:
        return [ev("login.failure", f"u_{i % users}", timedelta(seconds=20 * i), ip) for i in range(failures)]

    assert not fired(feed(detector(), attempts(4, 5)), Rule.BRUTE_FORCE_IP)
    assert not fired(feed(detector(), attempts(3, 9)), Rule.BRUTE_FORCE_IP)
    hit = fired(feed(detector(), attempts(4, 6)), Rule.BRUTE_FORCE_IP)
    assert [f.key for f in hit] == [f"ip:{ip}"] and hit[0].source_ips == (ip,)
    office = "198.51.100.9"  # trusted: > 15 failures and > 9 users
    many = [ev("login.failure", f"u_{i % 10}", timedelta(seconds=5 * i), office) for i in range(15)]
    assert not fired(feed(detector(), many), Rule.BRUTE_FORCE_IP)
    more = [*many, ev("login.failure", "u_3", timedelta(seconds=80), office)]
    assert fired(feed(detector(), more), Rule.BRUTE_FORCE_IP)


def test_lockout_cluster_fires_at_three_distinct_accounts() -> None:
    d = detector()
    locks = [ev("account.locked", f"u_{i}", timedelta(minutes=5 * i), failed_attempt_count=7) for i in range(3)]
    assert not feed(d, [*locks[:2], ev("account.locked", "u_1", timedelta(minutes=6))])  # the same account twice
    hit = fired(feed(d, locks[2:]), Rule.LOCKOUT_CLUSTER)
    assert [f.key for f in hit] == ["all"] and set(hit[0].actors) == {"u_0", "u_1", "u_2"}


def test_recovery_attempts_fire_at_three_distinct_identifiers() -> None:
    d = detector()
    attempts = [
        ev("recovery.attempted", f"u_{i % 2}", timedelta(minutes=2 * i), recovery_method="helpdesk") for i in range(8)
    ]
    assert not feed(d, attempts)
    hit = fired(feed(d, [ev("recovery.attempted", "u_9", timedelta(minutes=20))]), Rule.RECOVERY_STORM)
    assert len(hit) == 1 and len(hit[0].actors) == 3


def pushes(n: int, actor: str = "u_7", step: float = 12) -> list[AuthEvent]:
    return [ev("mfa.challenge_issued", actor, timedelta(seconds=step * i), mfa_method="push") for i in range(n)]


def test_push_flood_fires_past_five_pushes_in_two_minutes() -> None:
    assert not feed(detector(), pushes(5))
    hit = fired(feed(detector(), pushes(6)), Rule.PUSH_FLOOD)
    assert [f.key for f in hit] == ["u_7"] and hit[0].actors == ("u_7",)
    assert not feed(detector(), pushes(9, step=25))  # never more than 5 within 2 minutes
    d = detector()  # approved in the middle: the count starts again
    flood = pushes(9)
    assert not feed(d, [*flood[:4], ev("mfa.success", "u_7", timedelta(seconds=40), mfa_method="push"), *flood[4:9]])
    assert not feed(detector(), [e.model_copy(update={"mfa_method": "TOTP"}) for e in pushes(9)])


def sign_in(actor: str, minutes: float, city: str, ip: str = "203.0.113.88") -> AuthEvent:
    return ev("login.success", actor, timedelta(minutes=minutes), ip, city, outcome="success")


def test_impossible_travel_fires_above_1000_kmh_and_ignores_vpn_egress() -> None:
    hit = fired(
        feed(detector(), [sign_in("u_1", 0, "Chennai"), sign_in("u_1", 20, "Frankfurt")]), Rule.IMPOSSIBLE_TRAVEL
    )
    assert [f.key for f in hit] == ["u_1"]
    # Chennai -> Bengaluru is ~290 km: 20 min is 870 km/h (no), 15 min is 1,160 km/h (yes)
    assert not feed(detector(), [sign_in("u_2", 0, "Chennai"), sign_in("u_2", 20, "Bengaluru")])
    assert feed(detector(), [sign_in("u_2", 0, "Chennai"), sign_in("u_2", 15, "Bengaluru")])
    vpn = [
        sign_in("u_3", 0, "Chennai"),
        sign_in("u_3", 16, "Frankfurt", ip="192.0.2.10"),
        sign_in("u_3", 20, "Chennai"),
    ]
    assert not feed(detector(), vpn)


def test_dormant_account_fires_after_more_than_90_days() -> None:
    d = detector()
    assert d.needs_lookup([sign_in("u_20001", 0, "Chennai")]) == ["u_20001"]
    d.seed_last_active("u_20001", T0 - timedelta(days=91))
    d.seed_last_active("u_20002", T0 - timedelta(days=89))
    d.seed_last_active("u_20003", None)  # Akku knows no last activity: no baseline
    firings = feed(d, [sign_in(a, 1, "London" if False else "Chennai") for a in ("u_20001", "u_20002", "u_20003")])
    assert [f.key for f in fired(firings, Rule.DORMANT_ACCOUNT)] == ["u_20001"]
    assert not d.needs_lookup([sign_in("u_20001", 2, "Chennai")])
    assert not feed(d, [sign_in("u_20001", 5, "Chennai")])  # active now


def test_the_same_events_give_the_same_dedup_keys_and_restored_quiet_periods_hold() -> None:
    events = [*mfa_failures(12), *pushes(7), sign_in("u_1", 0, "Chennai"), sign_in("u_1", 20, "Frankfurt")]
    first, second = detector(), detector()
    keys = [f.dedup_key for f in feed(first, events)]
    assert len(keys) == 3
    assert [f.dedup_key for f in feed(second, events)] == keys
    resumed = detector()
    resumed.restore(first.suppressions())
    assert not feed(resumed, events)


def test_late_events_count_within_the_window_and_not_beyond_it() -> None:
    d = detector()
    feed(d, pushes(3))
    late = [ev("mfa.challenge_issued", "u_7", timedelta(seconds=5 + i), mfa_method="push") for i in range(2)]
    assert not feed(d, late)  # 5 in the window
    assert fired(feed(d, [ev("mfa.challenge_issued", "u_7", timedelta(seconds=3), mfa_method="push")]), Rule.PUSH_FLOOD)
    d = detector()
    feed(d, [ev("mfa.challenge_issued", "u_8", timedelta(minutes=10), mfa_method="push")])
    assert not feed(d, pushes(9, actor="u_8", step=1))  # all older than the window behind the newest


def test_state_is_bounded_by_the_key_ceiling_and_the_window_cap() -> None:
    d = detector(max_keys=100)
    events = [
        ev("login.failure", f"u_{i}", timedelta(seconds=i / 10), f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        for i in range(5000)
    ]
    feed(d, events)
    sizes = d.keys()
    assert sizes["brute_force_ip"] == 100 and d.windows[Rule.BRUTE_FORCE_IP].windows.evicted == 4900
    newest = events[-1].source_ip
    assert newest in d.windows[Rule.BRUTE_FORCE_IP].windows.items  # the oldest went, not the newest
    one_ip = [ev("login.failure", f"u_{i % 7}", timedelta(seconds=i / 100), "203.0.113.5") for i in range(20_000)]
    feed(d, one_ip)
    window = d.windows[Rule.BRUTE_FORCE_IP].windows.get("203.0.113.5")
    assert window is not None and window.count == d.windows[Rule.BRUTE_FORCE_IP].cap == 256
    travel = [sign_in(f"u_{i}", i / 100, "Chennai") for i in range(1000)]
    feed(d, travel)
    assert len(d.sign_ins) == 100 and len(d.last_seen) == 100


def test_windows_expire_and_the_replay_point_follows_the_oldest_live_event() -> None:
    d = detector()
    feed(d, mfa_failures(3))
    assert d.oldest_needed() == T0
    feed(d, [ev("login.failure", "u_1", timedelta(hours=1), "203.0.113.77")])
    d.expire()
    assert d.oldest_needed() == T0 + timedelta(hours=1)


@pytest.mark.parametrize("rule", list(Rule))
def test_every_rule_has_a_title_and_a_detection(rule: Rule) -> None:
    config = rule_configs(PlaybookSet.load(REPO / "playbooks"))[rule]
    assert config.title.startswith("Akku stream:") and config.detection.value


def test_a_typo_in_the_detect_section_is_refused_naming_the_field(tmp_path: Path) -> None:
    from playbooks.loader import PlaybookError

    folder = playbooks_with(tmp_path, "credential-stuffing", "distinct_accounts: 10 ", "distinct_acounts: 10 ")
    with pytest.raises(PlaybookError) as caught:
        PlaybookSet.load(folder)
    assert caught.value.field == "detect.distinct_acounts" and caught.value.line is not None


def test_riposte_detect_explains_itself() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    assert "status" in runner.invoke(app, ["detect", "--help"]).output
    result = runner.invoke(app, ["detect", "status", "--help"])
    assert result.exit_code == 0 and "lag behind Akku" in result.output
