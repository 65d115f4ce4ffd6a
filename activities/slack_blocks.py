"""Block Kit for approval requests, decisions and notices: readable on a phone, within Slack's limits.

Pure functions: the activities post what these build, the tests read it. The approval digest
(one message for a wave of requests, workflows/digest.py) is built here too.

Every string that comes from Akku or a SIEM (names, roles, emails, rule names, cities, error
details) is escaped before it enters mrkdwn, as Slack documents (`&`, `<`, `>`): a display name
of `<!channel>` or `<https://evil.example|click>` shows as typed and neither pings nor links.
Links are https (or http to this machine, for the local stack) and anything else is dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from playbooks.wording import action_names, detection_names
from riposte.models.actions import ActionResult
from riposte.models.common import ActionKind, DetectionType, Severity
from riposte.models.digest import DIGEST_ACTION_PREFIX, Choice, DigestButton, DigestMessage
from riposte.models.evidence import ActorEvidence, UserRecord
from riposte.models.playbook import ApprovalOption
from riposte.models.runs import ApprovalRequest, ApprovalUpdate, Assessment, Hold, Notification
from riposte.models.slack import ACTION_PREFIX, UNDO_PREFIX, ButtonValue
from riposte.urls import secure_or_loopback

TEXT_LIMIT = 3000  # a section's text
BLOCK_LIMIT = 50
BUTTON_LIMIT = 75
DESTRUCTIVE = {ActionKind.LOCK, ActionKind.RESET_MFA, ActionKind.REVOKE_ROLE, ActionKind.FORCE_PASSWORD_RESET}
Block = dict[str, Any]
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")
URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"  # everything else (spaces, quotes, |, <, >) is percent-encoded


def esc(text: object) -> str:
    """Text as Slack shows it, never as markup: `&`, `<`, `>` become entities (Slack's own rule)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, label: str) -> str:
    """`<url|label>` for an https (or loopback http) URL; "" for anything else."""
    if not url or not secure_or_loopback(url):
        return ""
    return f"<{esc(quote(url.strip(), safe=URL_SAFE))}|{esc(label)}>"


def _cut(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text)}]}


def priority(assessment: Assessment) -> str:
    if DetectionType.ADMIN_ELEVATION in assessment.detections or assessment.severity is Severity.CRITICAL:
        return "P1"
    return {Severity.HIGH: "P2", Severity.MEDIUM: "P3"}.get(assessment.severity, "P4")


def person_text(actor_id: str, user: UserRecord | None) -> str:
    if user is None:
        return f"*{esc(actor_id)}*"
    name = user.display_name or user.login or actor_id
    parts = [f"*{esc(name)}*", esc(user.email or ""), f"`{esc(actor_id)}`"]
    if user.privileged or user.roles:
        parts.append(f":warning: privileged ({esc(', '.join(user.roles)) or 'yes'})")
    if user.status != "active":
        parts.append(f"status {esc(user.status)}")
    return " · ".join(p for p in parts if p)


def evidence_lines(evidence: ActorEvidence) -> list[str]:
    lines = []
    if evidence.source_ips:
        more = evidence.source_ip_count - len(evidence.source_ips[:5])
        ips = esc(", ".join(evidence.source_ips[:5])) + (f" +{more}" if more > 0 else "")
        countries = esc(", ".join(evidence.countries[:8]))
        lines.append(f"*Source IPs:* {ips}" + (f" ({countries})" if countries else ""))
    if evidence.mfa_failures_by_method or evidence.mfa_failures_by_reason:
        methods = esc(", ".join(f"{m} {n}" for m, n in sorted(evidence.mfa_failures_by_method.items())))
        reasons = esc(
            ", ".join(f"{r.replace('_', ' ')} {n}" for r, n in sorted(evidence.mfa_failures_by_reason.items()))
        )
        lines.append(f"*MFA failures:* {methods}" + (f"; {reasons}" if reasons else ""))
    if evidence.push_challenges:
        lines.append(
            f"*Push challenges:* {len(evidence.push_challenges)} issued, {len(evidence.push_successes)} approved"
        )
    if evidence.lockouts:
        worst = max((x.failed_attempt_count or 0 for x in evidence.lockouts), default=0)
        lines.append(f"*Lockouts:* {len(evidence.lockouts)} (up to {worst} failed attempts)")
    if evidence.recovery_by_method:
        methods = esc(", ".join(f"{m.replace('_', ' ')} {n}" for m, n in sorted(evidence.recovery_by_method.items())))
        lines.append(f"*Recovery attempts:* {methods}")
    if evidence.admin and evidence.admin.recent:
        change = evidence.admin.recent[-1]
        lines.append(f"*Role change:* {esc(change.role)} → {esc(change.target_id)}")
    return lines


def _button(request: ApprovalRequest, option: ApprovalOption) -> Block:
    value = ButtonValue(workflow_id=request.workflow_id, request_id=request.request_id, option_id=option.id).pack()
    button: Block = {
        "type": "button",
        "action_id": f"{ACTION_PREFIX}{option.id}",
        "text": {"type": "plain_text", "text": _cut(option.label, BUTTON_LIMIT)},
        "value": value,
    }
    if option.style != "default":
        button["style"] = option.style
    if option.confirm or set(option.actions) & DESTRUCTIVE:
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Are you sure?"},
            "text": {
                "type": "mrkdwn",
                "text": _cut(f"{esc(option.label)}: {action_names(option.actions)} on `{esc(request.actor_id)}`.", 300),
            },
            "confirm": {"type": "plain_text", "text": "Yes, do it"},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        }
    return button


def _links(run_url: str | None, siem_url: str | None) -> str:
    links = [link(run_url, "Run in Temporal"), link(siem_url, "Alert in the SIEM")]
    return " · ".join(found for found in links if found)


def headline(request: ApprovalRequest, *, mrkdwn: bool = True) -> str:
    """The one-line summary: escaped for mrkdwn (a message's `text`), as is for a plain_text header."""
    a = request.assessment
    actor = esc(request.actor_id) if mrkdwn else request.actor_id
    fyi = "FYI: " if request.offer else ""
    return f"{fyi}{priority(a)} {detection_names(a)}: {actor}, score {a.score:.0f}"


def waited_text(seconds: int) -> str:
    """'under a minute', '30 min', '2 h 5 min', '3 d 4 h'."""
    minutes = seconds // 60
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def channel_text(channel: str | None) -> str:
    """A channel Riposte posted to: `<#C…>` for a Slack channel id, else the name as typed."""
    if channel and SLACK_CHANNEL_ID.match(channel):
        return f"<#{channel}>"
    return esc(channel or "the approval channel")


def approval_blocks(request: ApprovalRequest, *, buttons: bool = True, note: str | None = None) -> list[Block]:
    if request.offer:
        return offer_blocks(request, buttons=buttons, note=note)
    a = request.assessment
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(headline(request, mrkdwn=False), 150)}},
        _section(person_text(request.actor_id, request.user)),
    ]
    if request.dry_run:
        blocks.append(_context(":test_tube: DRY RUN: decisions are recorded, nothing is written to Akku"))
    factors = "\n".join(f"• {esc(f.detail)} (+{f.points:.0f})" for f in a.factors[:3])
    blocks.append(_section(f"*Score {a.score:.0f}/100* because:\n{factors}"))
    lines = evidence_lines(request.evidence)
    if lines:
        blocks.append(_section("\n".join(lines)))
    if a.guard_notes:
        blocks.append(_context("\n".join(f":shield: {esc(n)}" for n in a.guard_notes)))
    blocks.append(_section(f"*Proposed:* {action_names(a.actions)}"))
    if request.waited_seconds is not None:
        blocks.append(
            _context(
                f":alarm_clock: Waiting {waited_text(request.waited_seconds)} for a decision "
                f"in {channel_text(request.waited_in)}"
            )
        )
    if note:  # Riposte's own words and approver mentions (`<@U…>`), nothing from outside
        blocks.append(_context(note))
    return _with_choices(blocks, request, buttons=buttons)


def offer_blocks(request: ApprovalRequest, *, buttons: bool = True, note: str | None = None) -> list[Block]:
    """An FYI that a person may act on: the notice, then the band above it as buttons, and until when."""
    a = request.assessment
    factors = "\n".join(f"• {esc(f.detail)}" for f in a.factors[:3])
    blocks: list[Block] = [
        _section(f"*{headline(request)}*"),
        _section(person_text(request.actor_id, request.user)),
        _section(f"Score {a.score:.0f}/100: team notified, no action\n{factors}".rstrip()),
    ]
    if request.dry_run:
        blocks.append(_context(":test_tube: DRY RUN: decisions are recorded, nothing is written to Akku"))
    lines = evidence_lines(request.evidence)
    if lines:
        blocks.append(_section("\n".join(lines)))
    if buttons and a.options:
        blocks.append(
            _section(
                "Nothing changes unless someone chooses. *If you think it is worth acting on*, choose "
                f"until {_when(request.expires_at)}, when this investigation closes if nothing more happens."
            )
        )
        if note:  # Riposte's own words, nothing from outside
            blocks.append(_context(note))
    return _with_choices(blocks, request, buttons=buttons)


def _with_choices(blocks: list[Block], request: ApprovalRequest, *, buttons: bool) -> list[Block]:
    """A request's buttons (one per option) and its links close its message, within Slack's limits."""
    if buttons and request.assessment.options:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"riposte_{request.request_id}",
                "elements": [_button(request, o) for o in request.assessment.options[:25]],
            }
        )
    links = _links(request.run_ui_url, request.siem_url)
    if links:
        blocks.append(_context(links))
    return blocks[:BLOCK_LIMIT]


def results_text(results: list[ActionResult]) -> str:
    icons = {
        "applied": ":white_check_mark:",
        "already_applied": ":ballot_box_with_check:",
        "failed": ":x:",
        "dry_run": ":test_tube:",
    }
    return "\n".join(
        f"{icons.get(r.status, '•')} {r.action.value.replace('_', ' ')} on `{esc(r.actor_id)}`: "
        f"{r.status.replace('_', ' ')}" + (f" ({esc(r.detail)})" if r.detail else "")
        for r in results
    )


def _who(deciders: list[str]) -> str:
    return ", ".join(
        esc(d.removeprefix("cli:")) + " (CLI)"
        if d.startswith("cli:")
        else f"<@{d}>"
        if SLACK_USER_ID.match(d)
        else esc(d)
        for d in deciders
    )


def decided_blocks(update: ApprovalUpdate) -> list[Block]:
    """The message after a decision or timeout (buttons gone), or with a reminder (buttons kept)."""
    reminder = update.keep_buttons
    blocks = approval_blocks(update.request, buttons=reminder, note=None)
    status = f"*{esc(update.headline)}*"
    if update.decided_by:
        status += f"\nby {_who(update.decided_by)}"
    if update.decided_at:
        status += f" at {_when(update.decided_at)}"
    if update.results:
        status += "\n" + results_text(update.results)
    position = len(blocks) - 1 if blocks and blocks[-1]["type"] == "context" else len(blocks)
    blocks.insert(position, _section((":bell: " if reminder else ":lock: ") + status))
    if update.hold is not None and not reminder:
        position = len(blocks) - 1 if blocks and blocks[-1]["type"] == "context" else len(blocks)
        blocks[position:position] = hold_blocks(update.hold)
    return blocks[:BLOCK_LIMIT]


def _when(at: datetime | None) -> str:
    """A time every reader sees in their own zone (Slack's date token), with UTC as the fallback."""
    if at is None:
        return "an earlier time"
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at.isoformat(timespec='seconds')}>"


def _undo_button(hold: Hold, option: str, label: str, style: str | None, confirm: str | None) -> Block:
    value = ButtonValue(workflow_id=hold.workflow_id, request_id=hold.request_id, option_id=option).pack()
    button: Block = {
        "type": "button",
        "action_id": f"{UNDO_PREFIX}{option}",
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Are you sure?"},
            "text": {"type": "mrkdwn", "text": _cut(confirm, 300)},
            "confirm": {"type": "plain_text", "text": "Yes, do it"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def hold_blocks(hold: Hold) -> list[Block]:
    """What a decision applied that can be undone (with Undo, and Keep locked while a time-boxed
    lock runs), what cannot and why, or who undid it and when."""
    actor = f"`{esc(hold.actor_id)}`"
    what = action_names(hold.reversible)
    blocks: list[Block] = []
    if hold.outcome == "undone":
        reason = f" ({esc(hold.reason)})" if hold.reason else ""
        text = f":leftwards_arrow_with_hook: *Undone* by {esc(hold.by)} at {_when(hold.at)}{reason}"
        blocks.append(_section(text + ("\n" + results_text(hold.results) if hold.results else "")))
    elif hold.outcome == "lapsed":
        text = f":hourglass: *Lapsed* at {_when(hold.at)}: the {what} ran its time and was lifted"
        blocks.append(_section(text + ("\n" + results_text(hold.results) if hold.results else "")))
    elif hold.reversible:
        lines = [f":leftwards_arrow_with_hook: *Can be undone:* {what} on {actor} (*Undo* unlocks the account)"]
        if hold.outcome == "kept":
            lines.append(f":lock: *Kept locked* by {esc(hold.by)} at {_when(hold.at)}: it no longer lapses")
        elif hold.lapses_at is not None:
            lines.append(
                f":hourglass_flowing_sand: *Time-boxed:* unlocked by itself at {_when(hold.lapses_at)} "
                "unless someone clicks *Keep locked* first"
            )
        blocks.append(_section("\n".join(lines)))
    if hold.irreversible:
        blocks.append(_context("Cannot be undone: " + "; ".join(esc(n) for n in hold.irreversible)))
    if hold.reversible and hold.outcome in ("held", "kept"):
        buttons = [_undo_button(hold, "undo", "Undo", "danger", f"Undo: {what} lifted on {actor}.")]
        if hold.outcome == "held" and hold.lapses_at is not None:
            buttons.append(_undo_button(hold, "keep", "Keep locked", "primary", None))
        blocks.append({"type": "actions", "block_id": f"riposte_{hold.request_id}", "elements": buttons})
    return blocks


def notification_blocks(n: Notification) -> list[Block]:
    blocks: list[Block] = [_section(f"*{esc(n.headline)}*"), _section(person_text(n.actor_id, n.user))]
    if n.assessment:
        factors = "\n".join(f"• {esc(f.detail)}" for f in n.assessment.factors[:3])
        blocks.append(_section(f"Score {n.assessment.score:.0f}/100:\n{factors}"))
    if n.results:
        blocks.append(_section(results_text(n.results)))
    if n.hold is not None:
        blocks += hold_blocks(n.hold)
    run_link = link(n.run_ui_url, "Run in Temporal")
    if run_link:
        blocks.append(_context(run_link))
    return blocks[:BLOCK_LIMIT]


# --- the approval digest -----------------------------------------------------------------

DIGEST_ICONS = {
    "decided": ":white_check_mark: decided",
    "recorded": ":hourglass: awaiting another approver",
    "refused": ":no_entry: not recorded",
    "decided_elsewhere": ":ballot_box_with_check: decided on their own",
    "ended": ":black_square_for_stop: ended",
    "in_flight": ":arrows_counterclockwise: being decided",
    "waiting": ":hourglass_flowing_sand: waiting",
}


def _counted(values: list[tuple[str, int]]) -> str:
    return ", ".join(f"{esc(v)} ({n})" for v, n in values)


def digest_headline(message: DigestMessage) -> str:
    return f"{message.count} people waiting for a decision: {message.detection} ({message.playbook})"


def _digest_button(message: DigestMessage, choice: Choice, label: str, style: str | None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": f"{DIGEST_ACTION_PREFIX}{choice}",
        "text": {"type": "plain_text", "text": label},
        "value": DigestButton(digest_id=message.digest_id, choice=choice).pack(),
    }
    if style:
        button["style"] = style
    if choice != "review":
        count = message.tally.get("waiting", 0)
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Are you sure?"},
            "text": {"type": "mrkdwn", "text": f"{esc(label)}: every open request in this digest ({count} waiting)."},
            "confirm": {"type": "plain_text", "text": "Yes, do it"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def digest_blocks(message: DigestMessage) -> list[Block]:
    """One message for a wave: how many, what they share, the first names, the outcome so far."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(digest_headline(message), 150)}},
        _section(
            f"*{message.count} approval requests* of playbook `{esc(message.playbook)}`, "
            f"scores {message.score_min:.0f} to {message.score_max:.0f}. "
            "Each is decided on its own run, with its own checks."
        ),
    ]
    shared = []
    if message.source_ips:
        shared.append(f"*Source IPs:* {_counted(message.source_ips)}")
    if message.countries:
        shared.append(f"*Countries:* {_counted(message.countries)}")
    if shared:
        blocks.append(_section("\n".join(shared)))
    names = ", ".join(f"*{esc(n)}*" for n in message.names)
    more = message.count - len(message.names)
    blocks.append(_section(f"*Who:* {names}" + (f" and {more} more" if more > 0 else "")))
    tally = " · ".join(f"{icon} {message.tally[s]}" for s, icon in DIGEST_ICONS.items() if message.tally.get(s))
    blocks.append(_context(tally))
    if message.refusals:
        lines = [f"• {esc(r.name)} (`{esc(r.actor_id)}`): {esc(r.detail)}" for r in message.refusals]
        extra = message.refused - len(lines)
        blocks.append(_section("*Not recorded:*\n" + "\n".join(lines) + (f"\n…and {extra} more" if extra > 0 else "")))
    if message.last_action:
        blocks.append(_section(f":lock: {esc(message.last_action)}"))
    if message.closed:
        blocks.append(_context("This digest is closed: its window is over and every request in it is decided."))
    elif any(message.tally.get(s) for s in ("waiting", "refused", "recorded")):
        blocks.append(
            {
                "type": "actions",
                "block_id": "riposte_digest",
                "elements": [
                    _digest_button(message, "approve", "Approve all", "primary"),
                    _digest_button(message, "deny", "Deny all", "danger"),
                    _digest_button(message, "review", "Review individually", None),
                ],
            }
        )
    return blocks[:BLOCK_LIMIT]
