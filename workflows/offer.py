"""An FYI a person may act on: a notify band's message offers the band above it.

A notify decision is recorded as always; since actionable-notify-v1 its FYI carries the choices
of the playbook's next stronger band (its options, or its actions as one button) and "Dismiss as
benign". The run does not wait for them: it goes on to its quiet period and closes as before.
A choice made while it is open goes through the same `decide` update as an approval (the
validator, who may decide resolved for it, the person under investigation excluded, the decider
confirmed by the worker, `riposte approve` too) and is applied like an approval: a person
decided, so no permit. A stronger finding supersedes the offer (its buttons then answer "no
longer current"); at the close its message says nothing was chosen and its buttons go.

Used only from workflow code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from playbooks import schedule
    from riposte.models.playbook import Approval
    from riposte.models.runs import ApprovalPosted, ApprovalRequest, Assessment, InvestigationState
    from workflows.approval import ApprovalRound
    from workflows.case import Case

SUPERSEDED = "this offer is no longer current: a newer finding replaced it"
CLOSED = "this investigation has closed; its offer can no longer be acted on"
DECIDED = "this has already been decided"


class Offer(ApprovalRound):
    """An approval round nobody waits for: decided like one, posted as an FYI, open until withdrawn."""

    def __init__(
        self,
        request: ApprovalRequest,
        policy: Approval,
        posted: list[ApprovalPosted] | None = None,
        allowed: list[str] | None = None,
    ) -> None:
        super().__init__(request, policy, schedule.opened(policy, request.expires_at))  # never scheduled
        self.open = True
        self.why_closed = ""
        self.posted = posted or []  # carried across continue-as-new, with who may decide as resolved then
        self.allowed |= set(allowed or [])

    @property
    def chosen_in_time(self) -> bool:
        """A person chose while it was open: the run applies it next."""
        return self.open and self.decided

    async def ask(self) -> None:
        """Its own message (never the approval digest), with who may decide resolved first."""
        self.posted = [await self._post(self.policy.channel)]

    def finish(self, why: str) -> None:
        self.open, self.why_closed = False, why

    async def withdraw(self, why: str, headline: str) -> None:
        """Nothing was chosen: the buttons go, the message says why."""
        self.finish(why)
        await self.update_messages(headline)


async def open_offer(case: Case, assessment: Assessment, run_ui_url: str | None, *, dry_run: bool) -> Offer:
    """Post the FYI with its choices, open until the end of the run's quiet period (as it stands)."""
    policy = case.policy(assessment)
    request = ApprovalRequest(
        request_id=f"fyi-{str(workflow.uuid4())[:8]}",
        workflow_id=workflow.info().workflow_id,
        run_ui_url=run_ui_url,
        actor_id=case.actor_id,
        user=case.user(),
        assessment=assessment.model_copy(update={"options": assessment.offer}),
        evidence=case.latest().evidence,
        siem_url=case.latest().alert.siem_url,
        channel=policy.channel,
        approvers=policy.approvers,
        approver_group=policy.approver_group,
        required_approvers=policy.required_approvers,
        expires_at=workflow.now() + case.quiet_period(),
        dry_run=dry_run,
        offer=True,
    )
    offer = Offer(request, policy)
    await offer.ask()
    return offer


def chosen(offer: Offer | None) -> bool:
    """A person chose on an open offer: the run applies it next."""
    return offer is not None and offer.chosen_in_time


async def end_offer(
    offer: Offer | None, why: str, headline: str, conclude: Callable[[ApprovalRound], Awaitable[None]]
) -> None:
    """An open offer ends: a choice made in time is applied like an approval (`conclude`, the
    investigation's: a person decided, so no permit); otherwise its buttons go and the message says why."""
    if offer is None or not offer.open:
        return
    if offer.decided:
        offer.finish(DECIDED)
        await conclude(offer)
    else:
        await offer.withdraw(why, headline)


def carried_offer(case: Case, state: InvestigationState) -> Offer | None:
    """An open offer carried across continue-as-new."""
    if state.offer is None:
        return None
    return Offer(state.offer, case.policy(state.offer.assessment), state.offer_posted, state.offer_allowed)


def carry(offer: Offer | None) -> dict[str, Any]:
    """What an open offer carries across continue-as-new (InvestigationState's offer fields)."""
    if offer is None or not offer.open:
        return {}
    return {"offer": offer.request, "offer_posted": offer.posted, "offer_allowed": sorted(offer.allowed)}
