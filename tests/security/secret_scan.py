"""Secrets never in a log line: every record Riposte (and its servers) log during the test suite
is kept and scanned at the end of the session for every secret the suite uses."""

from __future__ import annotations

import logging

import pytest

from riposte.settings import DEV_AKKU_API_KEY, DEV_SLACK_BOT_TOKEN, DEV_SLACK_SIGNING_SECRET

# every secret value the suite configures anywhere (tests keep theirs as module constants)
SECRETS = [
    DEV_AKKU_API_KEY,
    DEV_SLACK_BOT_TOKEN,
    DEV_SLACK_SIGNING_SECRET,
    "engine-test-webhook-token",
    "ZW5naW5lLXRlc3Qtd2ViaG9vay1zZWNyZXQ=",
    "gw-test-token-0b9d2c",
    "Z3ctdGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ==",
    "b2xkLXNlY3JldC1yb3RhdGVkLWF3YXk=",
    "akku-test-key-7f3a",
    "wrong-secret-key-123",
    "xoxb-test-token-4410",
]
WATCHED = ("riposte", "gateway", "uvicorn", "temporalio", "slack_sdk", "clients", "activities")


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(WATCHED):
            try:
                text = record.getMessage()
            except Exception:
                text = f"{record.msg} {record.args}"
            if record.exc_info and record.exc_info[1] is not None:
                text += f" {record.exc_info[1]!r}"
            self.lines.append(f"{record.name}: {text}")


RECORDER = Recorder()


def install() -> None:
    logging.getLogger().addHandler(RECORDER)
    for name in ("riposte", "gateway", "uvicorn", "temporalio"):
        logger = logging.getLogger(name)
        if logger.level in (logging.NOTSET,) or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)


def hits() -> list[str]:
    return [f"{secret[:4]}… in {line[:200]}" for line in RECORDER.lines for secret in SECRETS if secret in line]


def check(session: pytest.Session) -> None:
    found = hits()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"secret scan: {len(RECORDER.lines)} log lines, {len(found)} with a secret")
    if found:
        if reporter is not None:
            for hit in found[:20]:
                reporter.write_line(f"  LEAK {hit}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
