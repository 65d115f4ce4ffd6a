"""What a message says about undoing a decision: Undo and Keep locked buttons that the gateway can
read back, when a time-boxed lock lapses, what cannot be undone and why, who undid it; all of it
escaped. And the pure rules behind it (playbooks/containment.py) and `contain_for` validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from activities.slack_blocks import decided_blocks, notification_blocks
from playbooks import containment
from riposte.models.actions import ActionResult
from riposte.models.common import ActionKind
from riposte.models.playbook import Playbook
from riposte.models.runs import ApprovalPosted, ApprovalUpdate, Hold, Notification
from riposte.models.slack import ACTION_PREFIX, UNDO_PREFIX, ButtonValue
from tests.slack.test_slack import request

LAPSE = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def hold(**changes: Any) -> Hold:
    base = Hold(
        decision=0,
        request_id="undo-0",
        workflow_id="investigation-u_1",
        actor_id="u_1",
        reversible=[ActionKind.LOCK],
        irreversible=[containment.why_not(ActionKind.REVOKE_ROLE, "<!channel>")],
        lapses_at=LAPSE,
    )
    return base.model_copy(update=changes)


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"}


def text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def notice(h: Hold) -> list[dict[str, Any]]:
    return notification_blocks(Notification(actor_id="u_1", headline="Acted automatically: u_1", hold=h))


def test_a_time_boxed_lock_offers_undo_and_keep_and_says_when_it_lapses() -> None:
    blocks = notice(hold())
    found = buttons(blocks)
    assert set(found) == {f"{UNDO_PREFIX}undo", f"{UNDO_PREFIX}keep"}
    for option in ("undo", "keep"):
        value = ButtonValue.unpack(found[f"{UNDO_PREFIX}{option}"]["value"])
        assert (value.workflow_id, value.request_id, value.option_id) == ("investigation-u_1", "undo-0", option)
    assert "confirm" in found[f"{UNDO_PREFIX}undo"]
    shown = text(blocks)
    assert f"<!date^{int(LAPSE.timestamp())}^" in shown and "Time-boxed" in shown
    assert "re-grant the role &lt;!channel&gt; in Akku's console" in shown and "<!channel>" not in shown
    assert not any(a.startswith(ACTION_PREFIX) for a in found)  # never mistaken for an approval


def test_without_contain_for_there_is_nothing_to_keep_and_kept_locks_keep_their_undo() -> None:
    assert set(buttons(notice(hold(lapses_at=None)))) == {f"{UNDO_PREFIX}undo"}
    kept = notice(hold(lapses_at=None, outcome="kept", by="<!here>", at=LAPSE - timedelta(hours=1)))
    assert set(buttons(kept)) == {f"{UNDO_PREFIX}undo"}
    assert "Kept locked* by &lt;!here&gt;" in text(kept)


def test_after_an_undo_or_a_lapse_the_buttons_go_and_the_message_says_who_and_when() -> None:
    results = [ActionResult(actor_id="u_1", action=ActionKind.UNLOCK, status="applied")]
    undone = notice(hold(outcome="undone", by="maria (CLI)", at=LAPSE, reason="owner <b>called</b>", results=results))
    assert buttons(undone) == {}
    shown = text(undone)
    assert "*Undone* by maria (CLI)" in shown and "owner &lt;b&gt;called&lt;/b&gt;" in shown and "unlock" in shown
    lapsed = notice(hold(outcome="lapsed", by="policy (contain_for lapsed)", at=LAPSE, results=results))
    assert buttons(lapsed) == {} and "*Lapsed*" in text(lapsed)


def test_nothing_reversible_gets_no_button_but_says_why() -> None:
    blocks = notice(hold(reversible=[], lapses_at=None))
    assert buttons(blocks) == {} and "Cannot be undone" in text(blocks)


def test_a_decided_approval_message_shows_the_hold_but_a_reminder_does_not() -> None:
    update = ApprovalUpdate(
        request=request(),
        posted=ApprovalPosted(channel="C1", ts="1.0"),
        headline="Approve: lock: decided by analyst",
        decided_by=["U0ANALYST"],
        decided_at=LAPSE,
        hold=hold(),
    )
    decided = decided_blocks(update)
    assert set(buttons(decided)) == {f"{UNDO_PREFIX}undo", f"{UNDO_PREFIX}keep"}
    assert decided[-1]["type"] == "context"  # the links stay last
    reminder = decided_blocks(update.model_copy(update={"keep_buttons": True}))
    assert not any(a.startswith(UNDO_PREFIX) for a in buttons(reminder))


def test_only_a_lock_riposte_applied_is_reversible() -> None:
    def result(action: ActionKind, status: str) -> ActionResult:
        return ActionResult(actor_id="u_1", action=action, status=status)

    reversible, irreversible = containment.split(
        [
            result(ActionKind.LOCK, "applied"),
            result(ActionKind.REVOKE_SESSIONS, "applied"),
            result(ActionKind.FORCE_PASSWORD_RESET, "failed"),
            result(ActionKind.RESET_MFA, "dry_run"),
        ]
    )
    assert reversible == [ActionKind.LOCK] and irreversible == [containment.why_not(ActionKind.REVOKE_SESSIONS)]
    reversible, irreversible = containment.split([result(ActionKind.LOCK, "already_applied")])
    assert reversible == [] and "already locked before this run" in irreversible[0]
    assert "re-grant the role security_admin" in containment.why_not(ActionKind.REVOKE_ROLE, "security_admin")


def test_contain_for_must_be_a_positive_duration() -> None:
    from tests.support.doubles import PLAYBOOKS

    snapshot = PLAYBOOKS.get("mfa-fatigue")
    assert snapshot is not None
    data = snapshot.playbook.model_dump()
    assert Playbook.model_validate({**data, "contain_for": "4h"}).contain_for == timedelta(hours=4)
    with pytest.raises(ValidationError, match="contain_for"):
        Playbook.model_validate({**data, "contain_for": "0s"})
