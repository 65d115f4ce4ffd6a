"""The Slack simulator: the Web API methods Riposte uses, a page to click, signed interactions.

`/api/<method>` answers as Slack does (`{"ok": false, "error": ...}`, 429 with Retry-After).
`/` shows the channels' messages with working buttons; a click becomes a real, signed
`block_actions` POST to the interactivity URL, exactly as Slack would send it. `/_sim/...`
lets tests and the demo click, read messages and replies, and take Slack down.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from simulators.slack.controls import add_controls
from simulators.slack.state import (
    ClickRequest,
    SimUser,
    SlackFaults,
    SlackSimConfig,
    State,
    config_from_settings,
    sign,
)
from simulators.slack.web_api import METHODS, add_web_api

__all__ = [
    "METHODS",
    "ClickRequest",
    "SimUser",
    "SlackFaults",
    "SlackSimConfig",
    "State",
    "config_from_settings",
    "create_app",
    "run",
    "sign",
]


def create_app(config: SlackSimConfig) -> FastAPI:
    state = State(config)
    app = FastAPI(title="Slack simulator", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json")
    app.state.sim = state
    add_web_api(app, state)
    add_controls(app, state)
    return app


def run(host: str, port: int, config: SlackSimConfig) -> None:
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
