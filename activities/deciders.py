"""Who is deciding, confirmed at the moment of the decision (fail-closed).

The investigation's `decide` validator checks what the run knows; this activity checks what
only the worker can: that a Slack clicker is still an approver now (someone removed from the
approvers or the approver group stops deciding open requests), that a CLI decision's proof was
made with the named operator's token, and that nobody decides on a role change that favoured
them. Anything that cannot be confirmed (Slack or Akku unreachable) is refused.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.slack import SlackActivities
from clients.akku.client import AkkuClient
from clients.akku.errors import AkkuError, AkkuNotFound
from riposte.models.runs import DeciderCheck, DeciderVerdict
from riposte.operators import parse_operators, verify
from riposte.settings import Settings


class DeciderActivities:
    def __init__(self, slack: SlackActivities, akku: AkkuClient, settings: Settings) -> None:
        self._slack = slack
        self._akku = akku
        tokens = settings.riposte_operator_tokens
        self._operators = parse_operators(tokens.get_secret_value()) if tokens else []

    @activity.defn(name="Confirm who is deciding")
    async def confirm(self, check: DeciderCheck) -> DeciderVerdict:
        decision, request = check.decision, check.request
        if decision.via == "cli":
            operator = decision.decided_by.removeprefix("cli:")
            if not self._operators:
                return DeciderVerdict(allowed=False, reason="decisions from the CLI are off (RIPOSTE_OPERATOR_TOKENS)")
            if not decision.proof or not verify(
                self._operators,
                decision.proof,
                operator=operator,
                workflow_id=request.workflow_id,
                request_id=decision.request_id,
                option_id=decision.option_id,
            ):
                return DeciderVerdict(allowed=False, reason=f"{operator}'s operator token did not check out")
        else:
            try:
                allowed = await self._slack.allowed(request)
            except ApplicationError as err:
                return DeciderVerdict(allowed=False, reason=f"could not confirm who may decide ({err.message})")
            if decision.decided_by not in allowed:
                return DeciderVerdict(allowed=False, reason=f"{decision.decided_by} is no longer allowed to decide")
        target = request.assessment.role_target
        if target and target != request.actor_id:
            try:
                favoured = await self._akku.get_user(target)
            except AkkuNotFound:
                favoured = None
            except AkkuError as err:
                return DeciderVerdict(allowed=False, reason=f"could not look up who received the role ({err.message})")
            names = {target.lower()} | (
                {n.lower() for n in (favoured.email, favoured.login) if n} if favoured else set()
            )
            who = {decision.decided_by.removeprefix("cli:").lower(), (decision.decided_by_email or "").lower()}
            if names & who:
                return DeciderVerdict(allowed=False, reason="the person who received the role cannot decide on it")
        return DeciderVerdict(allowed=True)
