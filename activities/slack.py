"""Slack activities: ask for approval, update the message after a decision, notify the team.

Slack's failures become typed ApplicationErrors: rate limits carry Retry-After into the
next retry, outages are retried, configuration errors (a wrong channel or token) are not.
If Slack stays down, the investigation keeps waiting and `riposte approve` still decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.slack_blocks import (
    approval_blocks,
    decided_blocks,
    digest_blocks,
    digest_headline,
    esc,
    headline,
    notification_blocks,
)
from activities.slack_reminders import reminder_blocks, reminder_text
from riposte.models.digest import DigestMessage, DigestPosted
from riposte.models.governor import Pause
from riposte.models.runs import (
    ApprovalPosted,
    ApprovalRequest,
    ApprovalUpdate,
    Approvers,
    HoldUpdate,
    Notification,
    ThreadReminder,
)
from riposte.settings import Settings

T = TypeVar("T")
PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "missing_scope",
    "message_not_found",
    "cant_update_message",
    "invalid_blocks",
    "invalid_arguments",
    "is_archived",
    "no_permission",
}


def _error(exc: BaseException) -> ApplicationError:
    if isinstance(exc, SlackApiError):
        code = str(exc.response.get("error") or "unknown_error")
        status = exc.response.status_code
        if status == 429 or code == "ratelimited":
            retry_after = float(exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after") or 1)
            return ApplicationError(
                f"Slack rate limit ({code})", type="SlackRateLimited", next_retry_delay=timedelta(seconds=retry_after)
            )
        if code in PERMANENT:
            return ApplicationError(f"Slack refused: {code}", type="SlackConfigError", non_retryable=True)
        return ApplicationError(f"Slack error {status}: {code}", type="SlackUnavailable")
    return ApplicationError(f"Slack unreachable ({type(exc).__name__})", type="SlackUnavailable")


async def _slack(call: Awaitable[T]) -> T:
    try:
        return await call
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        raise _error(exc) from None


PauseLookup = Callable[[], Awaitable[Pause | None]]


class SlackActivities:
    def __init__(self, slack: AsyncWebClient, settings: Settings, *, paused: PauseLookup | None = None) -> None:
        self._slack = slack
        self._settings = settings
        self._paused = paused  # the emergency stop in force, shown on every request posted meanwhile

    async def allowed(self, request: ApprovalRequest) -> list[str]:
        """Who may decide now: the approvers and the approver group, minus the person under investigation."""
        allowed = list(request.approvers or self._settings.slack_approver_ids)
        group = request.approver_group or self._settings.slack_approver_group
        if group:
            members = await _slack(self._slack.usergroups_users_list(usergroup=group))
            allowed += [str(u) for u in members.get("users") or []]
        subject = None
        email = request.user.email if request.user else None
        if email:
            try:
                found = await self._slack.users_lookupByEmail(email=email)
                subject = (found.get("user") or {}).get("id")
            except SlackApiError as exc:
                if exc.response.get("error") != "users_not_found":
                    raise _error(exc) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _error(exc) from None
        return sorted({u for u in allowed if u and u != subject})

    @activity.defn(name="Find who may decide in Slack")
    async def approvers(self, request: ApprovalRequest) -> Approvers:
        """Before the message exists, so a click can never arrive before its clicker is known."""
        return Approvers(ids=await self.allowed(request))

    @activity.defn(name="Ask for approval in Slack")
    async def post_approval(self, request: ApprovalRequest) -> ApprovalPosted:
        channel = request.channel or self._settings.slack_approval_channel
        allowed = await self.allowed(request)
        mentions = " ".join(f"<@{u}>" for u in allowed[:10])
        note = f"Who may decide: {mentions}" if mentions else "No approver configured: decide with `riposte approve`"
        if request.offer:  # an FYI pings nobody: who may choose is said, not mentioned
            note = "Who may choose: the people who may approve this playbook's requests (or `riposte approve`)"
        if request.required_approvers > 1:
            note += f" ({request.required_approvers} different people must agree)"
        pause = await self._paused() if self._paused else None
        if pause is not None:
            note += f"\n:octagonal_sign: Automatic actions are paused by {esc(pause.by)}: {esc(pause.reason)}"
        answer = await _slack(
            self._slack.chat_postMessage(
                channel=channel, text=headline(request), blocks=approval_blocks(request, note=note), unfurl_links=False
            )
        )
        activity.logger.info("approval requested", extra={"workflow_id": request.workflow_id, "channel": channel})
        return ApprovalPosted(
            channel=str(answer.get("channel") or channel), ts=answer.get("ts"), allowed_approvers=allowed
        )

    @activity.defn(name="Update the approval message in Slack")
    async def update_approval(self, update: ApprovalUpdate) -> ApprovalPosted:
        posted = update.posted
        if not posted.ts:
            return posted
        await _slack(
            self._slack.chat_update(
                channel=posted.channel, ts=posted.ts, text=update.headline, blocks=decided_blocks(update)
            )
        )
        return posted

    @activity.defn(name="Remind in the request's thread in Slack")
    async def remind(self, reminder: ThreadReminder) -> None:
        """A reply in the request's thread that mentions who may decide: a reply pings, an edit does not."""
        posted = reminder.posted
        if not posted.ts:
            return
        group = reminder.request.approver_group or self._settings.slack_approver_group
        await _slack(
            self._slack.chat_postMessage(
                channel=posted.channel,
                thread_ts=posted.ts,
                text=reminder_text(reminder, group),
                blocks=reminder_blocks(reminder, group),
                unfurl_links=False,
            )
        )
        activity.logger.info("reminded", extra={"workflow_id": reminder.request.workflow_id, "channel": posted.channel})

    @activity.defn(name="Post the approval digest in Slack")
    async def post_digest(self, message: DigestMessage) -> DigestPosted:
        channel = message.channel or self._settings.slack_approval_channel
        answer = await _slack(
            self._slack.chat_postMessage(
                channel=channel, text=digest_headline(message), blocks=digest_blocks(message), unfurl_links=False
            )
        )
        activity.logger.info("approval digest posted", extra={"workflow_id": message.digest_id, "channel": channel})
        return DigestPosted(channel=str(answer.get("channel") or channel), ts=answer.get("ts"))

    @activity.defn(name="Update the approval digest in Slack")
    async def update_digest(self, message: DigestMessage) -> DigestPosted:
        posted = message.posted
        if posted is None or not posted.ts:
            return await self.post_digest(message)
        await _slack(
            self._slack.chat_update(
                channel=posted.channel, ts=posted.ts, text=digest_headline(message), blocks=digest_blocks(message)
            )
        )
        return posted

    @activity.defn(name="Notify the team in Slack")
    async def notify(self, notification: Notification) -> ApprovalPosted | None:
        """Post an FYI; answers where it went, so a notice with an Undo button can be updated later."""
        channel = notification.channel or self._settings.slack_approval_channel
        answer = await _slack(
            self._slack.chat_postMessage(
                channel=channel,
                text=notification.headline,
                blocks=notification_blocks(notification),
                unfurl_links=False,
            )
        )
        return ApprovalPosted(channel=str(answer.get("channel") or channel), ts=answer.get("ts"))

    @activity.defn(name="Show an undo in Slack")
    async def update_hold(self, update: HoldUpdate) -> None:
        """An undo, a lapse or a kept lock, shown on the messages that offered it (buttons as due)."""
        posted = update.notice_posted
        if update.notice is not None and posted is not None and posted.ts:
            await _slack(
                self._slack.chat_update(
                    channel=posted.channel,
                    ts=posted.ts,
                    text=update.notice.headline,
                    blocks=notification_blocks(update.notice),
                )
            )
        for approval in update.approval:
            if approval.posted.ts:
                await _slack(
                    self._slack.chat_update(
                        channel=approval.posted.channel,
                        ts=approval.posted.ts,
                        text=approval.headline,
                        blocks=decided_blocks(approval),
                    )
                )
