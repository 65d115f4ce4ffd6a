"""The simulator's control routes (`/_sim/...`) and its page: click as a person would, read what
Riposte posted and replied, take Slack down or make it flaky."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from simulators.slack.page import PAGE
from simulators.slack.state import ClickRequest, SimUser, SlackFaults, State, sign


def add_controls(app: FastAPI, state: State) -> None:
    config = state.config

    @app.post("/_sim/click")
    async def click(body: ClickRequest) -> JSONResponse:
        message, found = None, None
        for candidate in reversed(state.messages):
            if body.channel and body.ts and (candidate["channel"], candidate["ts"]) != (body.channel, body.ts):
                continue
            hit = state.button(candidate, body.option_id, body.action_id)
            if hit is None:
                continue
            value = json.loads(hit[1].get("value") or "{}")
            if body.workflow_id and value.get("w") != body.workflow_id:
                continue
            if body.request_id and value.get("r") != body.request_id:
                continue
            message, found = candidate, hit
            break
        if message is None or found is None:
            return JSONResponse({"error": "no such message or button"}, status_code=404)
        if not config.interactivity_url:
            return JSONResponse({"error": "no interactivity URL configured"}, status_code=409)
        user = state.users.get(body.user_id) or SimUser(
            id=body.user_id, name=body.user_id, real_name=body.user_id, email=""
        )
        block, button = found
        reply_id = uuid.uuid4().hex
        payload = {
            "type": "block_actions",
            "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": config.team_id},
            "api_app_id": body.app_id or config.app_id,
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
                "is_ephemeral": False,
            },
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().hex[:10]}",
            "team": {"id": config.team_id, "domain": "riposte-sim"},
            "channel": {"id": message["channel"], "name": message["channel"].lower()},
            "message": {"type": "message", "ts": message["ts"], "text": message["text"], "blocks": message["blocks"]},
            "response_url": body.response_url or f"{config.public_url}/_sim/response/{reply_id}",
            "actions": [
                {
                    "action_id": button["action_id"],
                    "block_id": block.get("block_id", ""),
                    "text": button.get("text"),
                    "value": button.get("value"),
                    "style": button.get("style"),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body_bytes = urlencode({"payload": json.dumps(payload)}).encode()
        secret = "forged-secret" if body.forge else config.signing_secret
        headers = sign(secret, body_bytes, int(time.time()) - body.stale_seconds)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(config.interactivity_url, content=body_bytes, headers=headers)
        if answer.status_code == 200 and answer.headers.get("content-type", "").startswith("application/json"):
            said = answer.json()  # Slack shows a block_actions answer's message to the clicker, as a reply
            if isinstance(said, dict) and said.get("text"):
                state.replies.append({"reply_id": reply_id, "via": "answer", **said})
        return JSONResponse(
            {"delivered": answer.status_code == 200, "status": answer.status_code, "reply_id": reply_id},
            status_code=200 if answer.status_code == 200 else 502,
        )

    @app.post("/_sim/response/{reply_id}")
    async def response_url(reply_id: str, request: Request) -> dict[str, bool]:
        state.replies.append({"reply_id": reply_id, **(await request.json())})
        return {"ok": True}

    @app.get("/_sim/messages")
    async def messages() -> dict[str, Any]:
        return {"messages": state.messages, "ephemeral": state.ephemeral}

    @app.get("/_sim/replies")
    async def replies() -> dict[str, Any]:
        return {"replies": state.replies}

    @app.get("/_sim/calls")
    async def calls() -> dict[str, Any]:
        return {"calls": state.calls}

    @app.post("/_sim/faults")
    async def set_faults(faults: SlackFaults) -> dict[str, Any]:
        state.faults = faults.model_dump()
        return {"faults": state.faults}

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults = None
        return {"faults": None}

    @app.post("/_sim/down")
    async def go_down() -> dict[str, bool]:
        state.down = True
        return {"down": True}

    @app.delete("/_sim/down")
    async def come_back() -> dict[str, bool]:
        state.down = False
        return {"down": False}

    @app.post("/_sim/users")
    async def add_user(user: SimUser) -> dict[str, str]:
        state.users[user.id] = user
        return {"id": user.id}

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE.replace("__USERS__", json.dumps([u.model_dump() for u in state.users.values()]))
