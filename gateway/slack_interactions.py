"""POST /slack/interactions: Approve/Deny and Undo clicks, verified, delivered to the run, then acknowledged.

The signature (`X-Slack-Signature` over the raw body, at most 64 KiB read within 2 s,
timestamps older than 5 minutes refused) and the app id are checked here; whether this person
may make this decision now is the run's `decide` update validator's call, so a stale or
unauthorised click is refused before anything enters the history.

The click reaches the run (the `decide` update) before Slack gets its 200: a round trip of
milliseconds, bounded so the answer still lands within Slack's 3 seconds. An acknowledged click
is therefore never lost when a gateway dies; one that could not be delivered is answered with
an ephemeral "Not recorded" and the reason. Who clicked is confirmed from their Slack profile
(users.info → email) so the run can refuse the person under investigation; when the profile
cannot be read the click is refused, never delivered without it.

The clicker hears back on `response_url`, but only when it is Slack's hooks host or the origin
of SLACK_API_URL (the local simulator): a signed request never makes Riposte call an address of
the sender's choosing. Otherwise the answer travels in the 200's body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from clients.slack import slack_client
from gateway.errors import GatewayError, error_response
from gateway.limits import read_body
from gateway.temporal import TemporalUnavailable
from riposte.models.digest import DECIDE_ALL, DIGEST_ACTION_PREFIX, BulkAck, BulkDecision, DigestButton
from riposte.models.runs import DECIDE, UNDO, DecisionAck, DecisionRequest, UndoAck
from riposte.models.slack import ACTION_PREFIX, UNDO_PREFIX, ButtonValue
from riposte.settings import Settings
from riposte.urls import origin

log = logging.getLogger("riposte.slack")
BODY_LIMIT = 64 * 1024  # a block_actions payload is a few KiB
BODY_SECONDS = 2.0
ANSWER_BUDGET = 2.5  # seconds from arrival to the 200: Slack gives up at 3
PROFILE_SECONDS = 1.0  # of that budget, the most the clicker's profile lookup may take
SLACK_HOOKS = ("https", "hooks.slack.com", 443)
NOT_RECORDED = ":warning: Not recorded:"


class Click:
    """One button click, as far as Riposte needs it."""

    def __init__(self, payload: dict[str, Any], action: dict[str, Any], value: ButtonValue) -> None:
        user = payload.get("user") or {}
        self.user_id: str = str(user.get("id") or "")
        self.user_name: str = str(user.get("name") or user.get("username") or self.user_id)
        self.workflow_id = value.workflow_id
        self.request_id = value.request_id
        self.option_id = value.option_id
        url = payload.get("response_url")
        self.response_url: str | None = url if isinstance(url, str) else None
        self.action_id: str = str(action.get("action_id", ""))
        self.undo = self.action_id.startswith(UNDO_PREFIX)  # Undo / Keep locked: the run's `undo` update


@dataclass(frozen=True)
class Outcome:
    text: str
    recorded: bool


def undo_text(ack: UndoAck) -> str:
    if ack.outcome == "kept":
        return ":lock: Recorded: *kept locked*. The lock no longer lapses."
    if ack.outcome == "failed":
        details = "; ".join(r.detail for r in ack.results if r.detail)
        return f"{NOT_RECORDED} Akku did not unlock the account ({details}); it is still locked. Try again."
    return ":leftwards_arrow_with_hook: Recorded: *undone*. The account is unlocked in Akku."


def signature_ok(verifier: SignatureVerifier, body: bytes, headers: dict[str, str]) -> bool:
    """Slack's v0 signature; a missing, malformed or stale timestamp is simply not valid."""
    stamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12 or not signature:
        return False
    try:
        return verifier.is_valid(body=body, timestamp=stamp, signature=signature)
    except (ValueError, TypeError):
        return False


def build_slack_router(settings: Settings, get_client: Callable[[], Awaitable[Client]]) -> APIRouter:
    router = APIRouter()
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    slack = slack_client(settings)
    simulator_origin = origin(settings.slack_api_url)
    tasks: set[asyncio.Task[None]] = set()

    def reply_allowed(url: str | None) -> bool:
        where = origin(url) if url else None
        return where is not None and where in (SLACK_HOOKS, simulator_origin)

    @router.post("/slack/interactions", summary="Slack interactivity (block_actions)")
    async def interactions(request: Request) -> Response:
        arrived = time.monotonic()
        where = request.client.host if request.client else "?"
        try:
            body = await asyncio.wait_for(read_body(request, BODY_LIMIT), BODY_SECONDS)
        except GatewayError as exc:
            log.warning("refused Slack interaction from %s: %s", where, exc.message)
            return exc.response()
        except TimeoutError:
            log.warning("refused Slack interaction from %s: body not sent within %s s", where, BODY_SECONDS)
            return error_response(408, "timeout", f"body not sent within {BODY_SECONDS:g} seconds")
        if not signature_ok(verifier, body, dict(request.headers)):
            log.warning("refused Slack interaction from %s: bad or expired signature", where)
            return error_response(401, "invalid_signature", "signature missing, invalid or older than 5 minutes")
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except (KeyError, IndexError, ValueError, UnicodeDecodeError):
            return error_response(400, "malformed", "expected form field `payload` with JSON")
        if settings.slack_app_id and payload.get("api_app_id") != settings.slack_app_id:
            log.warning(
                "refused Slack interaction from app %s: not %s", payload.get("api_app_id"), settings.slack_app_id
            )
            return error_response(403, "wrong_app", "interaction from another Slack app")
        if payload.get("type") != "block_actions":
            return Response(status_code=200)
        in_body: list[str] = []
        actions = payload.get("actions")
        for action in actions if isinstance(actions, list) else []:
            if isinstance(action, dict) and str(action.get("action_id", "")).startswith(DIGEST_ACTION_PREFIX):
                said = await bulk(payload, action, arrived + ANSWER_BUDGET)
                if said is not None:
                    in_body.append(said)
                continue
            if not isinstance(action, dict) or not str(action.get("action_id", "")).startswith(
                (ACTION_PREFIX, UNDO_PREFIX)
            ):
                continue
            try:
                click = Click(payload, action, ButtonValue.unpack(str(action.get("value") or "")))
            except (ValueError, KeyError, TypeError):
                log.warning("refused Slack interaction: unreadable button value")
                continue
            outcome = await deliver(click, arrived + ANSWER_BUDGET)
            if reply_allowed(click.response_url):
                task = asyncio.create_task(answer(click, outcome.text))  # the 200 need not wait for it
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                if click.response_url:
                    log.warning(
                        "ignored response_url of a click on %s: not Slack's hooks host nor SLACK_API_URL's origin",
                        click.workflow_id,
                    )
                in_body.append(outcome.text)
        if in_body:  # Slack shows a block_actions answer's body to the clicker alone
            message = {"response_type": "ephemeral", "replace_original": False, "text": "\n".join(in_body)}
            return JSONResponse(message, status_code=200)
        return Response(status_code=200)

    async def clicker_email(user_id: str, seconds: float) -> str | None:
        """The clicker's email, so the run can refuse the person under investigation by identity."""
        try:
            answer = await asyncio.wait_for(slack.users_info(user=user_id), max(0.05, seconds))
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not look up Slack user %s: %s", user_id, type(exc).__name__)
            return None
        email = ((answer.get("user") or {}).get("profile") or {}).get("email")
        return str(email) if email else None

    async def deliver(click: Click, deadline: float) -> Outcome:
        email = await clicker_email(click.user_id, min(PROFILE_SECONDS, deadline - time.monotonic()))
        if email is None:
            log.warning(
                "refused decision %s on %s by %s: their Slack profile (email) could not be read",
                click.option_id,
                click.workflow_id,
                click.user_id,
            )
            return Outcome(
                f"{NOT_RECORDED} Riposte could not confirm who you are from your Slack profile (no email could be "
                "read), and decides nothing for someone it cannot identify. Try again, or use `riposte approve`.",
                recorded=False,
            )
        decision = DecisionRequest(
            request_id=click.request_id,
            option_id=click.option_id,
            decided_by=click.user_id,
            decided_by_name=click.user_name,
            decided_by_email=email,
            via="slack",
        )
        try:
            client = await asyncio.wait_for(get_client(), max(0.05, deadline - time.monotonic()))
            handle = client.get_workflow_handle(click.workflow_id)
            ack: DecisionAck | UndoAck
            if click.undo:
                ack = await asyncio.wait_for(
                    handle.execute_update(UNDO, decision, result_type=UndoAck), max(0.05, deadline - time.monotonic())
                )
            else:
                ack = await asyncio.wait_for(
                    handle.execute_update(DECIDE, decision, result_type=DecisionAck),
                    max(0.05, deadline - time.monotonic()),
                )
        except WorkflowUpdateFailedError as exc:
            reason = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc.cause or exc)
            log.warning(
                "refused decision %s on %s by %s: %s", click.option_id, click.workflow_id, click.user_id, reason
            )
            return Outcome(f":no_entry: Not recorded: {reason}.", recorded=False)
        except TemporalUnavailable:
            log.error("could not deliver decision on %s: Temporal unreachable", click.workflow_id)
            return Outcome(f"{NOT_RECORDED} Riposte could not reach the run; try again, or `riposte approve`.", False)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                if click.undo:
                    return Outcome(
                        ":information_source: Not recorded: this run has closed, so Riposte can no longer undo it; "
                        "unlock the account in Akku's console.",
                        False,
                    )
                return Outcome(
                    ":information_source: Not recorded: this investigation has closed; nothing can be decided on it now.",
                    False,
                )
            log.error("could not deliver decision on %s: %s", click.workflow_id, exc.message)
            return Outcome(f"{NOT_RECORDED} Riposte could not reach the run; try again, or `riposte approve`.", False)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            log.error("could not deliver decision on %s within %s s", click.workflow_id, ANSWER_BUDGET)
            return Outcome(
                f"{NOT_RECORDED} the run did not answer in time. Click again (a repeated click is never counted "
                "twice), or use `riposte approve`.",
                recorded=False,
            )
        except Exception as exc:
            log.exception("could not deliver decision on %s", click.workflow_id)
            return Outcome(f"{NOT_RECORDED} Riposte could not record this ({type(exc).__name__}); try again.", False)
        if isinstance(ack, UndoAck):
            log.info("undo %s on %s by %s: %s", click.option_id, click.workflow_id, click.user_id, ack.outcome)
            return Outcome(undo_text(ack), recorded=ack.outcome != "failed")
        log.info("decision %s on %s by %s: %s", click.option_id, click.workflow_id, click.user_id, ack.status)
        if ack.status == "decided":
            text = f":white_check_mark: Recorded: *{click.option_id.replace('_', ' ')}*. The run is acting on it."
        else:
            text = f":hourglass: Recorded your approval ({ack.approvals}/{ack.required}); waiting for another approver."
        return Outcome(text, recorded=True)

    async def bulk(payload: dict[str, Any], action: dict[str, Any], deadline: float) -> str | None:
        """A digest button: recorded by the digest (`decide_all`) before Slack gets its 200; the digest
        then sends each person's run its `decide` update, with that run's own checks."""
        try:
            button = DigestButton.unpack(str(action.get("value") or ""))
        except (ValueError, TypeError):
            log.warning("refused Slack interaction: unreadable digest button value")
            return None
        user = payload.get("user") or {}
        user_id = str(user.get("id") or "")
        url = payload.get("response_url")
        response_url = url if isinstance(url, str) else None
        email = await clicker_email(user_id, min(PROFILE_SECONDS, deadline - time.monotonic()))
        if email is None:
            text = (
                f"{NOT_RECORDED} Riposte could not confirm who you are from your Slack profile (no email could be "
                "read), and decides nothing for someone it cannot identify."
            )
        else:
            decision = BulkDecision(
                choice=button.choice,
                decided_by=user_id,
                decided_by_name=str(user.get("name") or user.get("username") or user_id),
                decided_by_email=email,
            )
            text = await deliver_bulk(button.digest_id, decision, deadline)
        if reply_allowed(response_url):
            task = asyncio.create_task(answer_url(str(response_url), text))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return None
        return text

    async def deliver_bulk(digest_id: str, decision: BulkDecision, deadline: float) -> str:
        try:
            client = await asyncio.wait_for(get_client(), max(0.05, deadline - time.monotonic()))
            ack = await asyncio.wait_for(
                client.get_workflow_handle(digest_id).execute_update(DECIDE_ALL, decision, result_type=BulkAck),
                max(0.05, deadline - time.monotonic()),
            )
        except WorkflowUpdateFailedError as exc:
            reason = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc.cause or exc)
            log.warning("refused digest %s on %s by %s: %s", decision.choice, digest_id, decision.decided_by, reason)
            return f":no_entry: Not recorded: {reason}."
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return ":information_source: Not recorded: this digest has closed; nothing to decide."
            log.error("could not deliver digest click on %s: %s", digest_id, exc.message)
            return f"{NOT_RECORDED} Riposte could not reach the digest; try again."
        except (TemporalUnavailable, TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            log.error("could not deliver digest click on %s within %s s", digest_id, ANSWER_BUDGET)
            return f"{NOT_RECORDED} the digest did not answer in time. Click again (nobody is decided twice)."
        log.info("digest %s on %s by %s: %d requests", decision.choice, digest_id, decision.decided_by, ack.count)
        if ack.choice == "review":
            return ":thread: Posting the open requests in this message's thread, each with its own buttons."
        verb = "Approving" if ack.choice == "approve" else "Denying"
        return f":white_check_mark: Recorded: {verb} {ack.count} requests; the digest shows each outcome."

    async def answer(click: Click, text: str) -> None:
        assert click.response_url
        await answer_url(click.response_url, text)

    async def answer_url(url: str, text: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
                await http.post(url, json={"response_type": "ephemeral", "replace_original": False, "text": text})
        except httpx.HTTPError as exc:
            log.warning("could not answer the clicker on response_url: %s", type(exc).__name__)

    return router
