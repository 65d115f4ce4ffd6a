"""The approval digest's bench row (bench/digest.py, bench/__main__.py)."""

from __future__ import annotations

from typing import Any

from bench.__main__ import digest_row


def wave(**changes: Any) -> dict[str, Any]:
    w: dict[str, Any] = {
        "people": 500,
        "asked": 475,
        "top_level_messages": 3,
        "notices": 25,
        "digests": 1,
        "automatic_s": 12.5,
        "all_waiting_s": 40.0,
        "click_to_last_write_s": 47.5,
        "writes": 1000,
        "each_once": True,
    }
    w.update(changes)
    return w


def test_a_wave_in_three_messages_written_once_passes_and_shows_its_rate_beside_the_automatic_one() -> None:
    row = digest_row(wave())
    assert row.verdict == "PASS"
    assert "3 top-level Slack messages asking for a decision (1 digest; 25 notices" in row.riposte
    assert "100 ms per person" in row.riposte  # 47.5 s for 475 people
    assert "500 ms per person" in row.baseline  # 12.5 s for the 25 automatic ones


def test_more_messages_or_a_write_twice_is_a_miss() -> None:
    assert digest_row(wave(top_level_messages=4)).verdict == "MISS"
    assert digest_row(wave(each_once=False)).verdict == "MISS"
