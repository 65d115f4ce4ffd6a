"""The detector's bench rows and its plain-reader baseline (bench/detector.py, bench/__main__.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench.__main__ import detector_rows
from bench.detector import PUSH, PUSHES, PlainReader
from clients.akku.models import AuthEvent


def figures(**changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "stream_latency_p50_s": 0.013,
        "stream_latency_max_s": 0.033,
        "plain_stream_latency_p50_s": 0.006,
        "plain_stream_latency_max_s": 0.010,
        "poll_latency_p50_s": 59.0,
        "poll_latency_max_s": 61.0,
        "plain_poll_latency_p50_s": 58.0,
        "plain_poll_latency_max_s": float("nan"),
        "poll_seconds": 60.0,
        "keeping_up": {
            "rate_asked": 2000,
            "seconds": 60,
            "events_written": 120000,
            "traffic": "simulator traffic generator",
            "lag_p50_s": 0.08,
            "lag_max_s": 2.3,
            "detector_events_per_s_max": 2010.0,
            "plain_lag_p50_s": 0.05,
            "plain_lag_max_s": 1.9,
        },
        "worker_peak_rss_mb": 130.0,
        "idle_worker_peak_rss_mb": 96.0,
    }
    d.update(changes)
    return d


def test_each_detector_figure_sits_beside_its_baseline_with_a_verdict() -> None:
    rows = detector_rows(figures())
    assert [r.verdict for r in rows] == ["PASS", "PASS", "PASS", "info"]
    assert "plain client: p50 6 ms" in rows[0].baseline
    assert "max n/a" in rows[1].baseline  # a baseline not measured says so, not 0
    assert "detector off: 96 MB" in rows[3].baseline


def test_a_missed_target_is_a_miss() -> None:
    slow = figures(stream_latency_p50_s=6.0, keeping_up={**figures()["keeping_up"], "lag_max_s": 12.0})
    rows = detector_rows(slow)
    assert rows[0].verdict == "MISS"
    assert rows[2].verdict == "MISS"
    assert "6.0 s" in rows[0].riposte


def test_without_polling_there_is_no_polling_row() -> None:
    d = figures()
    for key in ("poll_latency_p50_s", "poll_latency_max_s", "plain_poll_latency_p50_s", "plain_poll_latency_max_s"):
        del d[key]
    rows = detector_rows(d)
    assert len(rows) == 3
    assert rows[1].figure.startswith("detector: lag")


def test_the_plain_reader_counts_a_flood_once_even_when_events_come_again() -> None:
    reader = PlainReader(akku=None, mode="stream", poll_seconds=60)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    pushes = [
        AuthEvent(event_id=f"e{i}", event_type=PUSH, actor_id="u_1", timestamp=now - timedelta(seconds=5 - i))
        for i in range(PUSHES)
    ]
    for event in pushes[:-1] + pushes[:-1]:  # a reconnect delivers the first five again
        reader._take(event)
    assert "u_1" not in reader.flood_read
    reader._take(pushes[-1])
    assert "u_1" in reader.flood_read
    assert reader.newest == pushes[-1].timestamp
