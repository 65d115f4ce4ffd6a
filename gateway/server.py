"""`riposte gateway`: the webhook gateway under uvicorn, with secrets kept out of access logs."""

from __future__ import annotations

import logging
import re

import uvicorn
from fastapi import FastAPI

from gateway.app import create_app
from gateway.codec import mount_codec
from riposte.settings import Settings

# `token` as a query key, any of its letters possibly percent-encoded (`%74oken`, `tok%65n`):
# the gateway decodes keys before it reads them, so each spelling carries the real token
_TOKEN_KEY = "".join(f"(?:{c}|%{ord(c):02x}|%{ord(c.upper()):02x})" for c in "token")
TOKEN_IN_QUERY = re.compile(rf"([?&;]{_TOKEN_KEY}=)[^&;\s\"]*", re.IGNORECASE)


class RedactQueryTokens(logging.Filter):
    """Splunk sends its token as `?token=`: never let it reach a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                TOKEN_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "riposte.gateway"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryTokens) for f in logger.filters):
            logger.addFilter(RedactQueryTokens())


def build_app(settings: Settings) -> FastAPI:
    """The gateway with Slack's interactivity endpoint: what `riposte gateway` serves."""
    from gateway.slack_interactions import build_slack_router

    app = create_app(settings)
    app.include_router(build_slack_router(settings, app.state.temporal.get))
    mount_codec(app, settings)
    return app


def run(settings: Settings) -> None:
    install_log_redaction()
    uvicorn.run(
        build_app(settings),
        host=settings.riposte_http_host,
        port=settings.riposte_http_port,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        log_config=None,
    )
