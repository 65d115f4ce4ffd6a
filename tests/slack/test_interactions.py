"""/slack/interactions read as an attacker (or an unlucky outage) would: where replies may go, what a
malformed request gets, that an acknowledged click is already in the run, and that a clicker who
cannot be identified decides nothing. Real HTTP, real Temporal, the Slack simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI, Request
from temporalio.client import Client

from cli import driver
from cli.rig import running_stack
from gateway.slack_interactions import build_slack_router
from riposte.models.slack import ACTION_PREFIX, ButtonValue
from riposte.settings import DEV_SLACK_APP_ID, load_settings
from simulators.slack.server import SlackSimConfig, create_app, sign
from tests.slack.test_decisions import click, replies, waiting
from tests.support.servers import running_app

BOT = "xoxb-interactions-5521"
SIGNING = "interactions-signing-secret-93"


@dataclass
class Rig:
    gateway: str
    slack: str
    client: Client


@pytest.fixture
async def rig(client: Client) -> AsyncIterator[Rig]:
    """The interactivity route alone (as `riposte gateway` serves it) and a Slack simulator for users.info."""
    async with running_app(create_app(SlackSimConfig(bot_token=BOT, signing_secret=SIGNING))) as slack:
        settings = load_settings(slack_api_url=f"{slack}/api/", slack_bot_token=BOT, slack_signing_secret=SIGNING)
        app = FastAPI()

        async def get_client() -> Client:
            return client

        app.include_router(build_slack_router(settings, get_client))
        async with running_app(app) as gateway:
            yield Rig(gateway, slack, client)


def payload(workflow_id: str, response_url: str | None, user: str = "U0ANALYST") -> dict[str, Any]:
    value = ButtonValue(workflow_id=workflow_id, request_id="1-abcd", option_id="dismiss").pack()
    return {
        "type": "block_actions",
        "api_app_id": DEV_SLACK_APP_ID,
        "user": {"id": user, "name": "analyst"},
        "response_url": response_url,
        "actions": [{"action_id": f"{ACTION_PREFIX}dismiss", "value": value, "type": "button"}],
    }


async def post(rig: Rig, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{rig.gateway}/slack/interactions", content=body, headers=headers)


def signed(data: dict[str, Any], *, secret: str = SIGNING) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"payload": json.dumps(data)}).encode()
    return body, {**sign(secret, body, int(time.time())), "Content-Type": "application/x-www-form-urlencoded"}


async def sim_replies(rig: Rig) -> list[str]:
    async with httpx.AsyncClient() as http:
        return [r["text"] for r in (await http.get(f"{rig.slack}/_sim/replies")).json()["replies"]]


async def test_response_url_is_followed_only_to_slack_or_the_simulator(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    called: list[str] = []
    bait = FastAPI()

    @bait.post("/{path:path}")
    async def catch(path: str, request: Request) -> dict[str, bool]:
        called.append(path)
        return {"ok": True}

    async with running_app(bait) as elsewhere:
        for url in (f"{elsewhere}/steal", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd"):
            body, headers = signed(payload("no-such-run", url))
            answer = await post(rig, body, headers)
            assert answer.status_code == 200
            said = answer.json()  # the answer travels in the 200 instead, to the clicker alone
            assert said["response_type"] == "ephemeral" and said["replace_original"] is False
            assert "Not recorded" in said["text"]
        await asyncio.sleep(0.3)
    assert called == []
    assert caplog.text.count("ignored response_url") == 3
    body, headers = signed(payload("no-such-run", f"{rig.slack}/_sim/response/r1"))
    assert (await post(rig, body, headers)).status_code == 200
    for _ in range(50):
        if await sim_replies(rig):
            break
        await asyncio.sleep(0.05)
    assert any("Not recorded" in text for text in await sim_replies(rig))


@pytest.mark.parametrize(
    ("case", "stamp"),
    [
        ("missing", None),
        ("empty", ""),
        ("not a number", "yesterday"),
        ("float", "1764669000.5"),
        ("negative", "-1"),
        ("huge", "9" * 400),
        ("scientific", "1.7e9"),
        ("hex", "0x6930a1c0"),
    ],
)
async def test_a_malformed_or_missing_timestamp_is_401_never_500(rig: Rig, case: str, stamp: str | None) -> None:
    body, headers = signed(payload("no-such-run", None))
    headers.pop("X-Slack-Request-Timestamp")
    if stamp is not None:
        headers["X-Slack-Request-Timestamp"] = stamp
    answer = await post(rig, body, headers)
    assert answer.status_code == 401, (case, answer.text)
    assert answer.json()["error"]["code"] == "invalid_signature"


async def test_an_oversized_or_trickled_body_is_refused_unread(rig: Rig) -> None:
    big, headers = signed({**payload("no-such-run", None), "pad": "x" * 100_000})
    answer = await post(rig, big, headers)
    assert answer.status_code == 413

    async def trickle() -> AsyncIterator[bytes]:
        yield b"payload="
        await asyncio.sleep(4)
        yield b"{}"

    async with httpx.AsyncClient(timeout=10) as http:
        slow = await http.post(
            f"{rig.gateway}/slack/interactions",
            content=trickle(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SIGNING, b"", int(time.time()))},
        )
    assert slow.status_code == 408


async def test_a_click_the_run_cannot_take_in_time_is_answered_not_recorded_within_3_seconds(rig: Rig) -> None:
    workflow_id = f"investigation-nobody-home-{uuid.uuid4().hex[:8]}"
    await rig.client.start_workflow("InvestigationWorkflow", id=workflow_id, task_queue=f"unpolled-{uuid.uuid4().hex}")
    body, headers = signed(payload(workflow_id, f"{rig.slack}/_sim/response/r2"))
    started = time.monotonic()
    answer = await post(rig, body, headers)
    assert answer.status_code == 200 and time.monotonic() - started < 3.0
    for _ in range(50):
        if await sim_replies(rig):
            break
        await asyncio.sleep(0.05)
    (text,) = await sim_replies(rig)
    assert "Not recorded" in text and "in time" in text


async def test_an_acknowledged_click_is_already_in_the_run_and_an_unidentified_clicker_decides_nothing(
    client: Client, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running_stack(client, task_queue, slack_approver_ids="U0ANALYST,U0GHOST") as stack:
        workflow_id = await waiting(stack)
        assert stack.slack_url
        # an approver Slack does not know (deleted, or no email on the profile): refused, not delivered
        assert (await click(stack, workflow_id, "dismiss", "U0GHOST")).status_code == 200
        status = await driver.investigation_status(stack.client, workflow_id)
        assert status is not None and status.pending is not None and status.decisions == [] and status.approvals == []
        # Slack's users.info down at the moment of the click: the same
        async with httpx.AsyncClient() as http:
            await http.post(f"{stack.slack_url.rstrip('/')}/_sim/down")
            assert (await click(stack, workflow_id, "dismiss", "U0ANALYST")).status_code == 200
            await http.delete(f"{stack.slack_url.rstrip('/')}/_sim/down")
        status = await driver.investigation_status(stack.client, workflow_id)
        assert status is not None and status.pending is not None and status.decisions == []
        texts = await replies(stack)
        assert sum("could not confirm who you are" in t for t in texts) == 2, texts
        assert caplog.text.count("profile (email) could not be read") == 2
        assert await accepted_decisions(stack.client, workflow_id) == []
        # and a click Slack got its 200 for is in the run's history already: no waiting, no polling
        assert (await click(stack, workflow_id, "dismiss", "U0ANALYST")).status_code == 200
        assert await accepted_decisions(stack.client, workflow_id) == ["U0ANALYST"]


async def accepted_decisions(client: Client, workflow_id: str) -> list[str]:
    """Who made the `decide` updates the run accepted, from its history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found = []
    for event in history.events:
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if accepted.input.name == "decide":
                found.append(json.loads(accepted.input.args.payloads[0].data)["decided_by"])
    return found
