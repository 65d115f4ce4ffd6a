"""The Slack simulator: the Web API methods Riposte uses, a page to click, signed interactions.

`/api/<method>` answers as Slack does (`{"ok": false, "error": ...}`, 429 with Retry-After).
`/` shows the channels' messages with working buttons; a click becomes a real, signed
`block_actions` POST to the interactivity URL, exactly as Slack would send it. `/_sim/...`
lets tests and the demo click, read messages and replies, and take Slack down.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
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


def _check_blocks(blocks: Any) -> str | None:
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


def create_app(config: SlackSimConfig) -> FastAPI:
    state = State(config)
    app = FastAPI(title="Slack simulator", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json")
    app.state.sim = state

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
            "response_url": f"{config.public_url}/_sim/response/{reply_id}",
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

    return app


def _post(state: State, args: dict[str, Any]) -> dict[str, Any]:
    channel = str(args.get("channel") or "")
    if not channel.startswith(("C", "G", "D")):
        return {"ok": False, "error": "channel_not_found"}
    problem = _check_blocks(args.get("blocks"))
    if problem:
        return {"ok": False, "error": problem}
    ts = state.next_ts()
    message = {
        "channel": channel,
        "ts": ts,
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
    problem = _check_blocks(args.get("blocks"))
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


def run(host: str, port: int, config: SlackSimConfig) -> None:
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Slack simulator · Riposte</title>
<style>
body{font:15px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f8f8f8;color:#1d1c1d}
header{background:#3f0e40;color:#fff;padding:12px 16px;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
main{max-width:760px;margin:0 auto;padding:12px}
.msg{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin:12px 0}
.meta{color:#616061;font-size:12px}.h{font-weight:700;font-size:17px;margin:4px 0}
.ctx{color:#616061;font-size:13px;margin:6px 0}.sec{margin:6px 0;white-space:pre-wrap}
button{margin:4px 6px 4px 0;padding:8px 12px;border-radius:4px;border:1px solid #bbb;background:#fff;font-weight:600;cursor:pointer}
button.primary{background:#007a5a;color:#fff;border-color:#007a5a}button.danger{background:#e01e5a;color:#fff;border-color:#e01e5a}
.note{background:#fff8e1;border-left:4px solid #ecb22e;padding:6px 8px;margin:6px 0}
</style></head><body>
<header><b>#secops</b> <span>Slack simulator</span>
<label>clicking as <select id="who"></select></label></header>
<main id="feed"><p class="meta">No messages yet.</p></main>
<script>
const users = __USERS__;
const who = document.getElementById('who');
users.forEach(u => { const o = document.createElement('option'); o.value = u.id; o.textContent = u.real_name + ' (' + u.id + ')'; who.appendChild(o); });
function md(t){ return (t||'').replace(/&/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;').replace(/&lt;(https?:[^|]+?)\\|(.+?)&gt;/g,'<a href="$1" target="_blank">$2</a>').replace(/&lt;@(\\w+)&gt;/g,'@$1').replace(/\\*([^*]+)\\*/g,'<b>$1</b>').replace(/`([^`]+)`/g,'<code>$1</code>'); }
async function click(channel, ts, action_id, confirmText){
  if (confirmText && !confirm(confirmText)) return;
  const r = await fetch('/_sim/click', {method:'POST', headers:{'Content-Type':'application/json'},
    body: JSON.stringify({channel, ts, action_id, user_id: who.value})});
  const j = await r.json(); if (!r.ok) alert('click not delivered: ' + JSON.stringify(j)); setTimeout(load, 400);
}
function render(m){
  const d = document.createElement('div'); d.className = 'msg';
  d.innerHTML = '<div class="meta">' + m.channel + ' · ' + new Date(parseFloat(m.ts)*1000).toLocaleTimeString() + (m.updates.length ? ' · edited' : '') + '</div>';
  for (const b of m.blocks){
    if (b.type === 'header') d.insertAdjacentHTML('beforeend', '<div class="h">' + md(b.text.text) + '</div>');
    else if (b.type === 'section') d.insertAdjacentHTML('beforeend', '<div class="sec">' + md(b.text.text) + '</div>');
    else if (b.type === 'context') d.insertAdjacentHTML('beforeend', '<div class="ctx">' + b.elements.map(e => md(e.text)).join(' ') + '</div>');
    else if (b.type === 'actions') {
      const row = document.createElement('div');
      for (const e of b.elements){
        const btn = document.createElement('button'); btn.textContent = e.text.text; if (e.style) btn.className = e.style;
        btn.onclick = () => click(m.channel, m.ts, e.action_id, e.confirm ? e.confirm.text.text : null); row.appendChild(btn);
      }
      d.appendChild(row);
    }
  }
  return d;
}
let last = null;
async function load(){
  const r = await fetch('/_sim/messages'); const j = await r.json(); const feed = document.getElementById('feed');
  const replies = await (await fetch('/_sim/replies')).json();
  const snapshot = JSON.stringify([j, replies]);
  if (snapshot === last) return;  // re-render only on change: a click never lands on a vanished button
  last = snapshot;
  feed.innerHTML = '';
  for (const m of j.messages.slice().reverse()) feed.appendChild(render(m));
  for (const x of replies.replies.slice(-3).reverse()) { const n = document.createElement('div'); n.className='note'; n.innerHTML = md(x.text); feed.prepend(n); }
  if (!j.messages.length) feed.innerHTML = '<p class="meta">No messages yet.</p>';
}
load(); setInterval(load, 2000);
</script></body></html>"""
