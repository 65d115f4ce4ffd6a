"""A reminder as a reply in the request's thread: it pings the people who may decide.

An edit of the original message notifies nobody; a reply that mentions them does. Mentions are
Riposte's own: `<@U…>` for each Slack id resolved as an approver of the round, or the approver
group as `<!subteam^S…>` — each checked against Slack's id format first, so nothing from outside
ever becomes a mention. Everything else is escaped (activities/slack_blocks.py).
"""

from __future__ import annotations

import re

from activities.slack_blocks import SLACK_USER_ID, Block, headline, link, waited_text
from riposte.models.runs import ThreadReminder

SLACK_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,30}$")
MENTION_LIMIT = 10


def mentions(allowed: list[str], group: str | None) -> str:
    """Who may decide, as Slack mentions: the approver group if there is one, else each approver."""
    if group and SLACK_GROUP_ID.match(group):
        return f"<!subteam^{group}>"
    ids = [u for u in allowed if SLACK_USER_ID.match(u)]
    more = len(ids) - MENTION_LIMIT
    return " ".join(f"<@{u}>" for u in ids[:MENTION_LIMIT]) + (f" and {more} more" if more > 0 else "")


def reminder_text(reminder: ThreadReminder, group: str | None) -> str:
    who = mentions(reminder.allowed, group)
    waiting = f"waiting {waited_text(reminder.waited_seconds)} for a decision: {headline(reminder.request)}"
    if not who:
        return f":bell: Still {waiting}. Nobody is configured to decide in Slack: use `riposte approve`."
    return f":bell: {who}: still {waiting}. Decide with the buttons above."


def reminder_blocks(reminder: ThreadReminder, group: str | None) -> list[Block]:
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": reminder_text(reminder, group)}}]
    run = link(reminder.request.run_ui_url, "Run in Temporal")
    if run:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": run}]})
    return blocks
