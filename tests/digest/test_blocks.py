"""The digest message's blocks: what a wave looks like in Slack, escaped, within Slack's limits."""

from __future__ import annotations

from activities.slack_blocks import digest_blocks
from riposte.models.common import DetectionType
from riposte.models.digest import DigestButton, DigestEntry, EntryOutcome, summarise


def entries(count: int) -> list[DigestEntry]:
    return [
        DigestEntry(
            workflow_id=f"investigation-u_{n}",
            request_id=f"1-{n}",
            actor_id=f"u_{n}",
            display_name="<!channel>" if n == 0 else f"Person {n}",
            score=50 + n % 20,
            source_ips=["203.0.113.7", f"198.18.0.{n % 3}"],
            countries=["NL"],
            detection=DetectionType.CREDENTIAL_STUFFING,
        )
        for n in range(count)
    ]


def test_a_wave_of_500_is_one_message_within_slacks_limits() -> None:
    wave = entries(500)
    outcomes = {e.workflow_id: EntryOutcome() for e in wave}
    outcomes["investigation-u_7"] = EntryOutcome(state="refused", detail="U0X is not allowed to decide this request")
    message = summarise("d1", "credential-stuffing", wave, outcomes, posted=None, last_action="", closed=False)
    blocks = digest_blocks(message)
    text = str(blocks)
    assert len(blocks) <= 50 and len(text) < 12_000
    assert "500 people waiting" in text and "scores 50 to 69" in text and "and 495 more" in text
    assert "203.0.113.7 (500)" in text and "NL (500)" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text  # a name never pings the channel
    assert "u_7" in text and "not allowed" in text
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert labels == ["Approve all", "Deny all", "Review individually"]
    assert DigestButton.unpack(actions["elements"][0]["value"]) == DigestButton(digest_id="d1", choice="approve")


def test_a_closed_digest_has_no_buttons() -> None:
    wave = entries(4)
    outcomes = {e.workflow_id: EntryOutcome(state="decided") for e in wave}
    message = summarise("d1", "p", wave, outcomes, posted=None, last_action="ana chose Approve all", closed=True)
    blocks = digest_blocks(message)
    assert not [b for b in blocks if b["type"] == "actions"]
    assert "closed" in str(blocks) and ":white_check_mark: decided 4" in str(blocks)
