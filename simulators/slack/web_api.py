"""The Slack Web API methods Riposte uses, answered as Slack does (`{"ok": false, "error": ...}`,
429 with Retry-After), with the faults and outages the tests switch on."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulators.slack.state import SimUser, State, check_blocks


def add_web_api(app: FastAPI, state: State) -> None:
    """`/api/<method>`: the contract side of the simulator."""
    config = state.config

    async def arguments(request: Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        kind = request.headers.get("content-type", "")
        if body and "json" in kind:
            args.update(json.loads(body))
        elif body:
            args.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        for key in ("blocks", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    @app.api_route("/api/{method}", methods=["GET", "POST"])
    async def web_api(method: str, request: Request) -> JSONResponse:
        args = await arguments(request)
        state.calls.append({"method": method, "at": time.time()})
        if state.down:
            return JSONResponse({"ok": False, "error": "service_unavailable"}, status_code=503)
        if state.faults and state.rng.random() < float(state.faults.get("rate", 0)):
            kind = state.rng.choice(state.faults.get("kinds") or ["ratelimited"])
            if kind == "ratelimited":
                headers = {"Retry-After": str(state.faults.get("retry_after", 1))}
                return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429, headers=headers)
            if kind == "timeout":
                await asyncio.sleep(float(state.faults.get("hang_seconds", 30)))
                return JSONResponse({"ok": False, "error": "timeout"}, status_code=504)
            return JSONResponse({"ok": False, "error": "internal_error"}, status_code=int(kind))
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or args.get("token", "")
        if not hmac.compare_digest(str(token).encode(), config.bot_token.encode()):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        handler = METHODS.get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        return JSONResponse(handler(state, args))


def _post(state: State, args: dict[str, Any]) -> dict[str, Any]:
    channel = str(args.get("channel") or "")
    if not channel.startswith(("C", "G", "D")):
        return {"ok": False, "error": "channel_not_found"}
    problem = check_blocks(args.get("blocks"))
    if problem:
        return {"ok": False, "error": problem}
    thread_ts = args.get("thread_ts")
    if thread_ts and state.find(channel, str(thread_ts)) is None:
        return {"ok": False, "error": "thread_not_found"}
    ts = state.next_ts()
    message = {
        "channel": channel,
        "ts": ts,
        "thread_ts": str(thread_ts) if thread_ts else None,  # a reply in that message's thread
        "text": args.get("text", ""),
        "blocks": args.get("blocks") or [],
        "updates": [],
    }
    state.messages.append(message)
    return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message["text"], "ts": ts}}


def _update(state: State, args: dict[str, Any]) -> dict[str, Any]:
    message = state.find(str(args.get("channel")), str(args.get("ts")))
    if message is None:
        return {"ok": False, "error": "message_not_found"}
    problem = check_blocks(args.get("blocks"))
    if problem:
        return {"ok": False, "error": problem}
    message["updates"].append({"text": message["text"], "blocks": message["blocks"], "at": time.time()})
    message["text"], message["blocks"] = args.get("text", message["text"]), args.get("blocks") or message["blocks"]
    return {"ok": True, "channel": message["channel"], "ts": message["ts"], "text": message["text"]}


def _ephemeral(state: State, args: dict[str, Any]) -> dict[str, Any]:
    state.ephemeral.append({"channel": args.get("channel"), "user": args.get("user"), "text": args.get("text")})
    return {"ok": True, "message_ts": state.next_ts()}


def _user(user: SimUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "real_name": user.real_name,
        "profile": {"email": user.email, "real_name": user.real_name},
    }


def _users_info(state: State, args: dict[str, Any]) -> dict[str, Any]:
    user = state.users.get(str(args.get("user")))
    return {"ok": True, "user": _user(user)} if user else {"ok": False, "error": "user_not_found"}


def _lookup(state: State, args: dict[str, Any]) -> dict[str, Any]:
    email = str(args.get("email", "")).lower()
    user = next((u for u in state.users.values() if u.email.lower() == email), None)
    return {"ok": True, "user": _user(user)} if user else {"ok": False, "error": "users_not_found"}


def _group(state: State, args: dict[str, Any]) -> dict[str, Any]:
    members = state.config.groups.get(str(args.get("usergroup")))
    return {"ok": True, "users": members} if members is not None else {"ok": False, "error": "no_such_subteam"}


def _auth_test(state: State, _: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "team_id": state.config.team_id,
        "user_id": "U0RIPOSTEBOT",
        "bot_id": "B0RIPOSTE",
        "team": "Riposte sim",
    }


METHODS = {
    "chat.postMessage": _post,
    "chat.update": _update,
    "chat.postEphemeral": _ephemeral,
    "users.info": _users_info,
    "users.lookupByEmail": _lookup,
    "usergroups.users.list": _group,
    "auth.test": _auth_test,
}
