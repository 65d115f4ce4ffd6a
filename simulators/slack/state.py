"""The Slack simulator's configuration, request models and in-memory state."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from typing import Any

from pydantic import BaseModel, Field

from riposte.settings import DEV_SLACK_APPROVER, Settings

BLOCK_LIMIT = 50


class SimUser(BaseModel):
    id: str
    name: str
    real_name: str
    email: str


class SlackSimConfig(BaseModel):
    bot_token: str
    signing_secret: str
    app_id: str = "A0RIPOSTE"
    team_id: str = "T0RIPOSTE"
    interactivity_url: str | None = None
    public_url: str = "http://127.0.0.1:8082"
    users: list[SimUser] = Field(
        default_factory=lambda: [
            SimUser(id=DEV_SLACK_APPROVER, name="analyst", real_name="Ana Analyst", email="analyst@example.com"),
            SimUser(id="U0LEAD", name="lead", real_name="Lee Lead", email="lead@example.com"),
            SimUser(id="U0INTRUDER", name="intruder", real_name="Ian Intruder", email="intruder@example.com"),
        ]
    )
    groups: dict[str, list[str]] = Field(default_factory=lambda: {"S0SECOPS": [DEV_SLACK_APPROVER, "U0LEAD"]})


class ClickRequest(BaseModel):
    user_id: str = DEV_SLACK_APPROVER
    channel: str | None = None
    ts: str | None = None
    action_id: str | None = None
    option_id: str | None = None
    workflow_id: str | None = None
    request_id: str | None = None
    stale_seconds: int = 0  # sign with an old timestamp (replay tests)
    app_id: str | None = None  # another app's id (wrong-app tests)
    forge: bool = False  # sign with the wrong secret
    response_url: str | None = None  # a response_url of the test's choosing (hostile-sender tests)


class SlackFaults(BaseModel):
    """`kinds`: "ratelimited" (429 with Retry-After), an HTTP status such as "500", or "timeout"
    (the call hangs for `hang_seconds`, then answers 504)."""

    rate: float = Field(ge=0, le=1)
    kinds: list[str] = Field(default_factory=lambda: ["ratelimited"])
    retry_after: int = 1
    hang_seconds: float = Field(default=30, ge=0, le=300)


def config_from_settings(settings: Settings, *, interactivity_url: str | None) -> SlackSimConfig:
    public = settings.slack_api_url.rstrip("/").removesuffix("/api")
    return SlackSimConfig(
        bot_token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        app_id=settings.slack_app_id or "A0RIPOSTE",
        interactivity_url=interactivity_url,
        public_url=public,
    )


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


class State:
    def __init__(self, config: SlackSimConfig) -> None:
        self.config = config
        self.users = {u.id: u for u in config.users}
        self.messages: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.faults: dict[str, Any] | None = None
        self.down = False
        self.rng = random.Random(0)
        self._ts = time.time()

    def next_ts(self) -> str:
        self._ts = max(self._ts + 0.0001, time.time())
        return f"{self._ts:.6f}"

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m["channel"] == channel and m["ts"] == ts), None)

    def button(
        self, message: dict[str, Any], option_id: str | None, action_id: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for block in message["blocks"]:
            for element in block.get("elements") or []:
                if element.get("type") != "button":
                    continue
                value = json.loads(element.get("value") or "{}") if element.get("value", "").startswith("{") else {}
                if element.get("action_id") == action_id or (option_id and value.get("o") == option_id):
                    return block, element
        return None


def check_blocks(blocks: Any) -> str | None:
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > BLOCK_LIMIT:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            return "invalid_blocks"
        text = (block.get("text") or {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        if len(text) > 3000:
            return "invalid_blocks"
    return None
