"""Secrets never in committed histories, and the log scan itself can see a leak."""

from __future__ import annotations

import logging
from pathlib import Path

from tests.security import secret_scan

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def test_no_committed_history_contains_a_secret() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert files
    for path in files:
        text = path.read_text()
        for secret in secret_scan.SECRETS:
            assert secret not in text, f"{path.name} contains a secret"
        assert "whsec_" not in text and "Bearer " not in text


def test_the_log_scan_catches_a_leak() -> None:
    before = len(secret_scan.RECORDER.lines)
    logging.getLogger("riposte.test").warning("calling Akku with key %s", "not-a-secret")
    assert len(secret_scan.RECORDER.lines) == before + 1
    secret_scan.RECORDER.lines.append("riposte.test: key akku-dev-key")  # what a leak would look like
    try:
        assert secret_scan.hits()
    finally:
        secret_scan.RECORDER.lines.pop()
    assert not secret_scan.hits()
