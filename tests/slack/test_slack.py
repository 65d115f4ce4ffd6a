"""Slack approval: the message, the activities against the Slack simulator, and refused clicks."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.slack import SlackActivities
from activities.slack_blocks import BLOCK_LIMIT, TEXT_LIMIT, approval_blocks, decided_blocks
from cli import driver
from cli.rig import running_stack
from cli.stack import Stack
from riposte.models.actions import ActionResult
from riposte.models.common import ActionKind, DetectionType, Response, Severity
from riposte.models.evidence import ActorEvidence, UserRecord
from riposte.models.playbook import ApprovalOption
from riposte.models.runs import ApprovalPosted, ApprovalRequest, ApprovalUpdate, Assessment, Factor
from riposte.settings import load_settings
from simulators.slack.server import SimUser, SlackSimConfig, create_app
from tests.support.servers import running_app

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TOKEN = "xoxb-test-token-4410"


def request(**changes: Any) -> ApprovalRequest:
    assessment = Assessment(
        score=87,
        factors=[
            Factor(name="push_flood", points=50, detail="push challenges: 9 in 2 min, none approved"),
            Factor(name="risk_context", points=20, detail="Akku adaptive MFA: risk high, IP malicious"),
            Factor(name="severity", points=7, detail="SIEM severity high"),
            Factor(name="privileged", points=5, detail="the fourth factor"),
        ],
        response=Response.APPROVE,
        actions=[ActionKind.RESET_MFA, ActionKind.FORCE_PASSWORD_RESET],
        options=[
            ApprovalOption(
                id="approve",
                label="Reset MFA and force a password reset",
                actions=[ActionKind.RESET_MFA],
                style="danger",
            ),
            ApprovalOption(id="dismiss", label="Dismiss as benign", actions=[]),
        ],
        detections=[DetectionType.MFA_FATIGUE],
        severity=Severity.HIGH,
        playbook="mfa-fatigue",
        guard_notes=["privileged account: never acted on automatically, a person decides"],
    )
    evidence = ActorEvidence(
        actor_id="u_10001",
        window_start=NOW - timedelta(hours=1),
        window_end=NOW,
        source_ips=["203.0.113.7"],
        source_ip_count=1,
        countries=["DE"],
        mfa_failures_by_method={"push": 9},
        push_challenges=[NOW] * 9,
    )
    values: dict[str, Any] = {
        "request_id": "1-abcd",
        "workflow_id": "investigation-u_10001",
        "run_ui_url": "https://ui.example/namespaces/default/workflows/investigation-u_10001",
        "actor_id": "u_10001",
        "user": UserRecord(
            actor_id="u_10001",
            email="asha@example.com",
            display_name="Asha Iyer",
            privileged=True,
            roles=["helpdesk_admin"],
        ),
        "assessment": assessment,
        "evidence": evidence,
        "siem_url": "https://splunk.example/app/search/@go?sid=1",
        "expires_at": NOW + timedelta(minutes=15),
    }
    values.update(changes)
    return ApprovalRequest(**values)


def text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def test_the_message_says_who_why_what_and_links_back() -> None:
    blocks = approval_blocks(request())
    text = text_of(blocks)
    for expected in (
        "P2 mfa fatigue",
        "Asha Iyer",
        "asha@example.com",
        "u_10001",
        "privileged",
        "score",
        "9 in 2 min",
        "203.0.113.7",
        "Proposed",
        "reset mfa",
        "Run in Temporal",
        "Alert in the SIEM",
    ):
        assert expected.lower() in text.lower(), expected
    assert "the fourth factor" not in text  # only the top three factors
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == ["riposte_decide_approve", "riposte_decide_dismiss"]
    assert "confirm" in buttons[0] and "confirm" not in buttons[1]
    assert json.loads(buttons[0]["value"]) == {"w": "investigation-u_10001", "r": "1-abcd", "o": "approve"}


def test_huge_evidence_stays_within_block_kit_limits() -> None:
    many = [Factor(name=f"f{i}", points=1, detail="x" * 5000) for i in range(80)]
    big = request()
    big = big.model_copy(
        update={"assessment": big.assessment.model_copy(update={"factors": many, "guard_notes": ["n" * 5000]})}
    )
    blocks = approval_blocks(big)
    assert len(blocks) <= BLOCK_LIMIT
    for block in blocks:
        assert len((block.get("text") or {}).get("text", "")) <= TEXT_LIMIT
        for element in block.get("elements") or []:
            assert (
                len(
                    element.get("text", "")
                    if isinstance(element.get("text"), str)
                    else element.get("text", {}).get("text", "")
                )
                <= TEXT_LIMIT
            )


def test_a_decided_message_loses_its_buttons_and_shows_the_outcome() -> None:
    update = ApprovalUpdate(
        request=request(),
        posted=ApprovalPosted(channel="C1", ts="1.0"),
        headline="Reset MFA: decided by analyst",
        decided_by=["U0ANALYST", "cli:maria"],
        decided_at=NOW,
        results=[ActionResult(actor_id="u_10001", action=ActionKind.RESET_MFA, status="applied")],
    )
    text = text_of(decided_blocks(update))
    assert "riposte_decide" not in text  # buttons gone
    assert "<@U0ANALYST>" in text and "maria (CLI)" in text and "reset mfa on `u_10001`: applied" in text
    reminder = update.model_copy(update={"headline": "Reminder", "decided_by": [], "results": [], "keep_buttons": True})
    assert "riposte_decide_approve" in text_of(decided_blocks(reminder))


@pytest.fixture
async def slack() -> AsyncIterator[tuple[str, SlackActivities]]:
    config = SlackSimConfig(
        bot_token=TOKEN,
        signing_secret="s",
        users=[
            SimUser(id="U0ANALYST", name="analyst", real_name="A", email="analyst@example.com"),
            SimUser(id="U0ASHA", name="asha", real_name="Asha", email="asha@example.com"),
            SimUser(id="U0LEAD", name="lead", real_name="L", email="lead@example.com"),
        ],
    )
    async with running_app(create_app(config)) as url:
        settings = load_settings(
            slack_api_url=f"{url}/api/", slack_bot_token=TOKEN, slack_approver_ids="U0ANALYST,U0ASHA"
        )
        client = AsyncWebClient(token=TOKEN, base_url=f"{url}/api/")
        yield url, SlackActivities(client, settings)


async def sim(url: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        answer = await http.request(method, f"{url}{path}", json=body)
    data: dict[str, Any] = answer.json()
    return data


async def test_post_excludes_the_subject_and_adds_the_group(slack: tuple[str, SlackActivities]) -> None:
    url, acts = slack
    env = ActivityEnvironment()
    posted = await env.run(acts.post_approval, request(approver_group="S0SECOPS"))
    assert posted.ts and posted.channel == "C0SECOPS"
    assert posted.allowed_approvers == ["U0ANALYST", "U0LEAD"]  # U0ASHA is the person under investigation
    (message,) = (await sim(url, "GET", "/_sim/messages"))["messages"]
    assert "riposte_decide_approve" in json.dumps(message["blocks"])
    update = ApprovalUpdate(
        request=request(), posted=posted, headline="Dismissed", decided_by=["U0ANALYST"], decided_at=NOW
    )
    await env.run(acts.update_approval, update)
    (message,) = (await sim(url, "GET", "/_sim/messages"))["messages"]
    assert message["updates"] and "riposte_decide" not in json.dumps(message["blocks"])


async def test_slack_failures_become_typed_errors(slack: tuple[str, SlackActivities]) -> None:
    url, acts = slack
    env = ActivityEnvironment()
    await sim(url, "POST", "/_sim/faults", {"rate": 1.0, "kinds": ["ratelimited"], "retry_after": 7})
    with pytest.raises(ApplicationError) as limited:
        await env.run(acts.post_approval, request())
    assert limited.value.type == "SlackRateLimited" and limited.value.next_retry_delay == timedelta(seconds=7)
    await sim(url, "POST", "/_sim/faults", {"rate": 1.0, "kinds": ["timeout"], "hang_seconds": 0.3})
    started = time.monotonic()
    with pytest.raises(ApplicationError) as hung:
        await env.run(acts.post_approval, request())
    assert time.monotonic() - started >= 0.3 and not hung.value.non_retryable
    await sim(url, "DELETE", "/_sim/faults")
    await sim(url, "POST", "/_sim/down")
    with pytest.raises(ApplicationError) as down:
        await env.run(acts.post_approval, request())
    assert down.value.type == "SlackUnavailable" and not down.value.non_retryable
    await sim(url, "DELETE", "/_sim/down")
    with pytest.raises(ApplicationError) as wrong:
        await env.run(acts.post_approval, request(channel="nope"))
    assert wrong.value.type == "SlackConfigError" and wrong.value.non_retryable


@pytest.mark.parametrize(
    ("attack", "body", "status"),
    [
        ("forged signature", {"forge": True}, 401),
        ("replayed (signed 10 minutes ago)", {"stale_seconds": 600}, 401),
        ("another Slack app", {"app_id": "A0OTHER"}, 403),
    ],
)
async def test_forged_replayed_and_foreign_clicks_are_refused(
    client: Any, task_queue: str, caplog: pytest.LogCaptureFixture, attack: str, body: dict[str, Any], status: int
) -> None:
    async with running_stack(client, task_queue) as stack:
        fired = await driver.fire_scenario(stack, "admin_elevation")
        statuses = await driver.settle(stack, fired)
        ((workflow_id, waiting),) = statuses.items()
        await _posted(stack)
        answer = await _click(
            stack, {"workflow_id": workflow_id, "option_id": "revoke_role", "user_id": "U0ANALYST", **body}
        )
        assert answer.status_code == 502 and answer.json()["status"] == status, attack
        now = await driver.investigation_status(stack.client, workflow_id)
        assert now is not None and now.pending is not None and now.approvals == [] and now.stage == waiting.stage
        assert "refused Slack interaction" in caplog.text


async def test_the_person_under_investigation_cannot_approve_themselves(client: Any, task_queue: str) -> None:
    async with running_stack(client, task_queue, slack_approver_ids="U0ANALYST,U0SELF") as stack:
        fired = await driver.fire_scenario(stack, "admin_elevation")
        ((workflow_id, waiting),) = (await driver.settle(stack, fired)).items()
        assert waiting.pending is not None and waiting.pending.user is not None
        assert stack.slack_url
        # the admin under investigation joins Slack after the request went out, and is a configured approver
        await _posted(stack)
        async with httpx.AsyncClient() as http:
            await http.post(
                f"{stack.slack_url.rstrip('/')}/_sim/users",
                json={"id": "U0SELF", "name": "self", "real_name": "Self", "email": waiting.pending.user.email},
            )
        answer = await _click(stack, {"workflow_id": workflow_id, "option_id": "dismiss", "user_id": "U0SELF"})
        assert answer.status_code == 200
        await _reply(stack, "cannot decide on it")
        now = await driver.investigation_status(stack.client, workflow_id)
        assert now is not None and now.pending is not None and now.approvals == []


async def _reply(stack: Stack, text: str) -> None:
    import asyncio

    assert stack.slack_url
    for _ in range(100):
        async with httpx.AsyncClient() as http:
            replies = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/replies")).json()["replies"]
        if any(text in r["text"] for r in replies):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply saying {text!r}")


async def _posted(stack: Stack) -> None:
    import asyncio

    assert stack.slack_url
    for _ in range(100):
        async with httpx.AsyncClient() as http:
            messages = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")).json()["messages"]
        if messages:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no approval message posted")


async def _click(stack: Stack, body: dict[str, Any]) -> httpx.Response:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        return await http.post(f"{stack.slack_url.rstrip('/')}/_sim/click", json=body)


HOSTILE = "<!channel> <https://evil.example|click> & <@U0BOSS>"


def test_text_from_akku_or_the_siem_never_becomes_markup_or_a_link() -> None:
    hostile_user = UserRecord(
        actor_id="u_10001",
        email="a<b>@example.com",
        display_name=HOSTILE,
        login="x",
        privileged=True,
        roles=["<!here>", "admin|<https://evil.example>"],
    )
    factor = Factor(name="travel", points=40, detail="sign-in from <!subteam^S1> <https://evil.example|Zürich>")
    req = request(user=hostile_user, siem_url="javascript:alert(1)", run_ui_url="ftp://ui.example/run")
    req = req.model_copy(
        update={"assessment": req.assessment.model_copy(update={"factors": [factor], "guard_notes": ["<!everyone>"]})}
    )
    blocks = approval_blocks(req)
    mrkdwn = [
        t
        for b in blocks
        for t in [(b.get("text") or {}).get("text", "")] + [e.get("text", "") for e in b.get("elements") or []]
        if isinstance(t, str) and (b["type"] != "header")
    ]
    text = "\n".join(mrkdwn)
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; &lt;@U0BOSS&gt;" in text
    assert "&lt;!here&gt;" in text and "&lt;!subteam^S1&gt;" in text and "&lt;!everyone&gt;" in text
    assert "a&lt;b&gt;@example.com" in text
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<!subteam", "<https://evil.example", "<@U0BOSS>"):
        assert raw not in text, raw
    assert "javascript:" not in text and "ftp://" not in text  # neither link survives
    assert "Alert in the SIEM" not in text and "Run in Temporal" not in text
    header = blocks[0]["text"]
    assert header["type"] == "plain_text"  # plain text shows as typed: no escaping needed there


def test_links_are_https_or_loopback_and_cannot_break_out_of_their_brackets() -> None:
    good = request(siem_url="https://splunk.example/app/search?q=index=auth | stats count>5&x=1")
    text = text_of(approval_blocks(good))
    assert (
        "<https://splunk.example/app/search?q=index=auth%20%7C%20stats%20count%3E5&amp;x=1|Alert in the SIEM>" in text
    )
    local = request(run_ui_url="http://127.0.0.1:8233/namespaces/default/workflows/x", siem_url="http://siem.example/a")
    text = text_of(approval_blocks(local))
    assert "<http://127.0.0.1:8233/namespaces/default/workflows/x|Run in Temporal>" in text
    assert "siem.example" not in text  # plain http to another host: dropped


def test_decisions_and_results_are_escaped_too() -> None:
    update = ApprovalUpdate(
        request=request(),
        posted=ApprovalPosted(channel="C1", ts="1.0"),
        headline="Locked <!channel>",
        decided_by=["U0ANALYST", "cli:<!here>", "U0X> <!channel"],
        decided_at=NOW,
        results=[
            ActionResult(actor_id="u_10001", action=ActionKind.LOCK, status="failed", detail="Akku said <!channel>")
        ],
    )
    text = text_of(decided_blocks(update))
    assert "<@U0ANALYST>" in text and "<!channel>" not in text and "<!here>" not in text
    assert "Akku said &lt;!channel&gt;" in text and "&lt;!here&gt; (CLI)" in text


async def test_the_simulators_page_shows_escaped_text_as_text_and_real_links_as_links() -> None:
    from playwright.async_api import async_playwright

    from tests.browser.test_browser import CHROMIUM, FLAGS

    assert CHROMIUM.exists(), "this test needs Debian's chromium (make test installs it)"
    hostile = request(user=UserRecord(actor_id="u_10001", display_name=HOSTILE, privileged=False))
    async with running_app(create_app(SlackSimConfig(bot_token=TOKEN, signing_secret="s"))) as url:
        client = AsyncWebClient(token=TOKEN, base_url=f"{url}/api/")
        await client.chat_postMessage(channel="C0SECOPS", text="x", blocks=approval_blocks(hostile))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            try:
                page = await browser.new_page()
                await page.goto(url)
                await page.get_by_text("Alert in the SIEM").wait_for(timeout=10_000)
                links = await page.eval_on_selector_all("a", "els => els.map(e => [e.href, e.textContent])")
                shown = await page.inner_text("#feed")
            finally:
                await browser.close()
    assert links == [
        ["https://ui.example/namespaces/default/workflows/investigation-u_10001", "Run in Temporal"],
        ["https://splunk.example/app/search/@go?sid=1", "Alert in the SIEM"],
    ]
    assert "<!channel> <https://evil.example|click> & <@U0BOSS>" in shown  # shown as typed
