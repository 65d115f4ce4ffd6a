"""Vote counting and who may decide, on the ApprovalRound alone (no server: check() and vote() are pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from playbooks import schedule
from playbooks.decide import default_options
from riposte.models.common import ActionKind, Response
from riposte.models.evidence import ActorEvidence
from riposte.models.playbook import Approval
from riposte.models.runs import ApprovalRequest, DecisionRequest
from tests.support.doubles import assessment
from workflows.approval import ApprovalRound

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def round_of(required: int = 1, cli_may_complete: bool = False) -> ApprovalRound:
    policy = Approval(required_approvers=required, cli_may_complete=cli_may_complete)
    base = assessment(Response.APPROVE, [ActionKind.LOCK], playbook="credential-stuffing")
    request = ApprovalRequest(
        request_id="1-abc",
        workflow_id="investigation-u_1",
        actor_id="u_1",
        assessment=base.model_copy(update={"options": default_options([ActionKind.LOCK])}),
        evidence=ActorEvidence(actor_id="u_1", window_start=T0 - timedelta(hours=1), window_end=T0),
        required_approvers=required,
        expires_at=T0 + timedelta(hours=1),
    )
    approval = ApprovalRound(request, policy, schedule.opened(policy, T0))
    approval.allowed = {"U_A", "U_B"}
    return approval


def slack(who: str, option: str = "approve", request_id: str = "1-abc") -> DecisionRequest:
    return DecisionRequest(request_id=request_id, option_id=option, decided_by=who, decided_by_name=who)


def cli(who: str) -> DecisionRequest:
    return DecisionRequest(request_id="1-abc", option_id="approve", decided_by=f"cli:{who}", via="cli", proof="p")


def test_one_approver_decides_and_a_late_click_loses_the_race() -> None:
    approval = round_of()
    approval.check(slack("U_A"), excluded=set())
    assert approval.vote(slack("U_A")).status == "decided" and approval.option() is not None
    with pytest.raises(ValueError, match="no decision is pending"):
        approval.check(slack("U_B"), excluded=set())
    with pytest.raises(ApplicationError):
        approval.vote(slack("U_B"))


@pytest.mark.parametrize(
    ("decision", "excluded", "why"),
    [
        (slack("U_A", request_id="0-old"), set(), "no longer current"),
        (slack("U_A", option="burn_it"), set(), "unknown option"),
        (slack("U_X"), set(), "not allowed"),
        (slack("U_A"), {"u_a"}, "person under investigation"),
        (cli(" "), set(), "must name the operator"),
    ],
)
def test_refused_before_the_history(decision: DecisionRequest, excluded: set[str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        round_of().check(decision, excluded=excluded)


def test_two_people_one_vote_each() -> None:
    approval = round_of(required=2)
    assert approval.vote(slack("U_A")).status == "awaiting_more_approvers"
    with pytest.raises(ValueError, match="already decided"):
        approval.check(slack("U_A"), excluded=set())
    assert approval.vote(slack("U_B")).status == "decided"
    assert approval.voters() == ["U_A", "U_B"]


def test_the_cli_alone_meets_a_two_person_rule_only_when_the_playbook_says_so() -> None:
    strict, lenient = round_of(required=2), round_of(required=2, cli_may_complete=True)
    for approval in (strict, lenient):
        approval.vote(cli("alice"))
    assert strict.vote(cli("bob")).status == "awaiting_more_approvers"
    assert lenient.vote(cli("bob")).status == "decided"
    assert strict.vote(slack("U_A")).status == "decided"
