"""The reminder in a request's thread and the FYI that offers a choice, as Block Kit: only Riposte's
own mentions of checked Slack ids ping; everything from outside stays escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from activities.slack_blocks import approval_blocks, headline, waited_text
from activities.slack_reminders import mentions, reminder_blocks, reminder_text
from playbooks.decide import DISMISS, offer_option
from riposte.models.common import ActionKind, DetectionType, Response, Severity
from riposte.models.evidence import ActorEvidence, UserRecord
from riposte.models.runs import ApprovalPosted, ApprovalRequest, Assessment, ThreadReminder

HOSTILE = "<!channel> <https://evil.example|click> & <@U0BOSS>"
AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def request(**changes: object) -> ApprovalRequest:
    assessment = Assessment(
        score=22,
        factors=[],
        response=Response.NOTIFY,
        detections=[DetectionType.DORMANT_ACCOUNT],
        severity=Severity.MEDIUM,
        playbook="dormant-account",
        options=[offer_option([ActionKind.LOCK, ActionKind.REVOKE_SESSIONS]), DISMISS],
    )
    base = ApprovalRequest(
        request_id="fyi-1",
        workflow_id="investigation-u_1",
        actor_id="u_1",
        user=UserRecord(actor_id="u_1", display_name=HOSTILE, email="u1@example.com"),
        assessment=assessment,
        evidence=ActorEvidence(actor_id="u_1", window_start=AT, window_end=AT),
        expires_at=AT,
    )
    return base.model_copy(update=changes)


def test_waited_reads_as_a_person_would_say_it() -> None:
    assert [waited_text(s) for s in (30, 600, 3600, 5400, 90000)] == [
        "under a minute",
        "10 min",
        "1 h",
        "1 h 30 min",
        "1 d 1 h",
    ]


def test_only_checked_slack_ids_become_mentions() -> None:
    assert mentions(["U0ANALYST", "W0LEAD"], None) == "<@U0ANALYST> <@W0LEAD>"
    assert mentions(["U0ANALYST", "<!channel>", "u_lowercase"], None) == "<@U0ANALYST>"
    assert mentions(["U0ANALYST"], "S0SECOPS") == "<!subteam^S0SECOPS>"  # the group, when there is one
    assert mentions(["U0ANALYST"], "S1>|<!channel") == "<@U0ANALYST>"  # not a group id: never a mention
    assert mentions([f"U0{n:03d}" for n in range(12)], None).endswith("<@U0009> and 2 more")


def test_a_reminder_pings_who_may_decide_and_escapes_the_rest() -> None:
    reminder = ThreadReminder(
        request=request(offer=False, actor_id="<!here>", run_ui_url="https://temporal.example/run"),
        posted=ApprovalPosted(channel="C0SECOPS", ts="1.0"),
        allowed=["U0ANALYST"],
        waited_seconds=600,
    )
    text = reminder_text(reminder, None)
    assert text.startswith(":bell: <@U0ANALYST>: still waiting 10 min for a decision: ")
    assert "&lt;!here&gt;" in text and "<!here>" not in text
    assert "<https://temporal.example/run|Run in Temporal>" in json.dumps(reminder_blocks(reminder, None))
    nobody = reminder.model_copy(update={"allowed": []})
    assert "use `riposte approve`" in reminder_text(nobody, None) and "<@" not in reminder_text(nobody, None)


def test_an_fyi_offers_its_choices_until_the_close_and_pings_nobody() -> None:
    blocks = json.dumps(approval_blocks(request(offer=True)))
    assert headline(request(offer=True)).startswith("FYI: ")
    assert "Lock and revoke sessions" in blocks and "Dismiss as benign" in blocks
    assert f"<!date^{int(AT.timestamp())}^" in blocks  # until when it can be acted on
    assert HOSTILE not in blocks and "&lt;!channel&gt;" in blocks
    assert "<@" not in blocks.replace("&lt;@U0BOSS&gt;", "")
    closed = json.dumps(approval_blocks(request(offer=True), buttons=False))
    assert "riposte_decide" not in closed and "Nothing changes unless" not in closed


def test_an_escalated_request_says_how_long_it_waited_and_where() -> None:
    waited = json.dumps(approval_blocks(request(waited_seconds=1800, waited_in="C0SECOPS")))
    assert "Waiting 30 min for a decision in <#C0SECOPS>" in waited
    named = json.dumps(approval_blocks(request(waited_seconds=1800, waited_in="#sec<!channel>")))
    assert "in #sec&lt;!channel&gt;" in named
