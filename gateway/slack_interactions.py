"""POST /slack/interactions: Approve/Deny clicks, verified, acknowledged at once, delivered to the run.

The signature (`X-Slack-Signature` over the raw body, timestamps older than 5 minutes
refused) and the app id are checked here; whether this person may make this decision
now is the run's `decide` update validator's call, so a stale or unauthorised click is
refused before anything enters the history. Slack needs an answer within 3 seconds: the
decision is delivered in the background and the clicker hears back on `response_url`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import httpx
from fastapi import APIRouter, Request, Response
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from clients.slack import slack_client
from gateway.errors import error_response
from riposte.models.runs import DECIDE, DecisionAck, DecisionRequest
from riposte.models.slack import ACTION_PREFIX, ButtonValue
from riposte.settings import Settings

log = logging.getLogger("riposte.slack")
DELIVERY_TIMEOUT = 30.0


class Click:
    """One button click, as far as Riposte needs it."""

    def __init__(self, payload: dict[str, Any], action: dict[str, Any], value: ButtonValue) -> None:
        user = payload.get("user") or {}
        self.user_id: str = user.get("id") or ""
        self.user_name: str = user.get("name") or user.get("username") or self.user_id
        self.workflow_id = value.workflow_id
        self.request_id = value.request_id
        self.option_id = value.option_id
        self.response_url: str | None = payload.get("response_url")
        self.action_id: str = action.get("action_id", "")


def build_slack_router(settings: Settings, get_client: Callable[[], Awaitable[Client]]) -> APIRouter:
    router = APIRouter()
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    slack = slack_client(settings)
    tasks: set[asyncio.Task[None]] = set()

    @router.post("/slack/interactions", summary="Slack interactivity (block_actions)")
    async def interactions(request: Request) -> Response:
        body = await request.body()
        where = request.client.host if request.client else "?"
        if not verifier.is_valid_request(body, dict(request.headers)):
            log.warning("refused Slack interaction from %s: bad or expired signature", where)
            return error_response(401, "invalid_signature", "signature missing, invalid or older than 5 minutes")
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
        except (KeyError, IndexError, ValueError, UnicodeDecodeError):
            return error_response(400, "malformed", "expected form field `payload` with JSON")
        if settings.slack_app_id and payload.get("api_app_id") != settings.slack_app_id:
            log.warning(
                "refused Slack interaction from app %s: not %s", payload.get("api_app_id"), settings.slack_app_id
            )
            return error_response(403, "wrong_app", "interaction from another Slack app")
        if payload.get("type") != "block_actions":
            return Response(status_code=200)
        for action in payload.get("actions") or []:
            if not str(action.get("action_id", "")).startswith(ACTION_PREFIX):
                continue
            try:
                click = Click(payload, action, ButtonValue.unpack(str(action.get("value") or "")))
            except (ValueError, KeyError, TypeError):
                log.warning("refused Slack interaction: unreadable button value")
                continue
            task = asyncio.create_task(deliver(click))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return Response(status_code=200)  # within Slack's 3 seconds; the decision follows

    async def clicker_email(user_id: str) -> str | None:
        """The clicker's email, so the run can refuse the person under investigation by identity."""
        try:
            answer = await slack.users_info(user=user_id)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not look up Slack user %s: %s", user_id, type(exc).__name__)
            return None
        email = ((answer.get("user") or {}).get("profile") or {}).get("email")
        return str(email) if email else None

    async def deliver(click: Click) -> None:
        decision = DecisionRequest(
            request_id=click.request_id,
            option_id=click.option_id,
            decided_by=click.user_id,
            decided_by_name=click.user_name,
            decided_by_email=await clicker_email(click.user_id),
            via="slack",
        )
        try:
            client = await get_client()
            handle = client.get_workflow_handle(click.workflow_id)
            ack = await asyncio.wait_for(
                handle.execute_update(DECIDE, decision, result_type=DecisionAck), DELIVERY_TIMEOUT
            )
        except WorkflowUpdateFailedError as exc:
            reason = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc.cause or exc)
            log.warning(
                "refused decision %s on %s by %s: %s", click.option_id, click.workflow_id, click.user_id, reason
            )
            await reply(click, f":no_entry: Not recorded: {reason}.")
            return
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                await reply(click, ":information_source: This run has ended; nothing to decide.")
            else:
                log.error("could not deliver decision on %s: %s", click.workflow_id, exc.message)
                await reply(click, ":warning: Riposte could not reach the run; try again, or `riposte approve`.")
            return
        except Exception as exc:
            log.exception("could not deliver decision on %s", click.workflow_id)
            await reply(click, f":warning: Riposte could not record this ({type(exc).__name__}); try again.")
            return
        if ack.status == "decided":
            text = f":white_check_mark: Recorded: *{click.option_id.replace('_', ' ')}*. The run is acting on it."
        else:
            text = f":hourglass: Recorded your approval ({ack.approvals}/{ack.required}); waiting for another approver."
        log.info("decision %s on %s by %s: %s", click.option_id, click.workflow_id, click.user_id, ack.status)
        await reply(click, text)

    async def reply(click: Click, text: str) -> None:
        if not click.response_url:
            return
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                await http.post(
                    click.response_url, json={"response_type": "ephemeral", "replace_original": False, "text": text}
                )
        except httpx.HTTPError as exc:
            log.warning("could not answer the clicker on response_url: %s", type(exc).__name__)

    return router
