"""InvestigationWorkflow's branches with its activities replaced by test doubles (tests/support/doubles.py),
on Temporal's time-skipping server: rounds of approval, votes, continue-as-new and what it carries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from riposte.models.common import ActionKind, DetectionType, Response
from riposte.models.runs import (
    ADD_FINDING,
    DECIDE,
    STATUS,
    DecisionAck,
    DecisionRequest,
    InvestigationInput,
    InvestigationStatus,
    RunOptions,
    Stage,
)
from tests.support.doubles import Script, assessment, finding
from workflows.investigation import InvestigationWorkflow

pytestmark = pytest.mark.time_skipping


async def status(handle: WorkflowHandle[object, object]) -> InvestigationStatus:
    result: InvestigationStatus = await handle.query(STATUS, result_type=InvestigationStatus)
    return result


async def until(handle: WorkflowHandle[object, object], check: object, tries: int = 200) -> InvestigationStatus:
    now = None
    for _ in range(tries):
        try:
            now = await status(handle)
        except RPCError:  # asked just as the run continued as new: ask the next run
            await asyncio.sleep(0.05)
            continue
        if check(now):  # type: ignore[operator]
            return now
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached: {now}")


@pytest.fixture
async def running(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[InvestigationWorkflow],
        activities=script.activities(),
    ):
        yield script, task_queue


async def start(
    env: WorkflowEnvironment, task_queue: str, actor: str, options: RunOptions | None = None
) -> WorkflowHandle[object, object]:
    """A handle on the latest run (not the first one): queries follow continue-as-new."""
    started = await env.client.start_workflow(
        "InvestigationWorkflow",
        InvestigationInput(actor_id=actor, options=options or RunOptions()),
        id=f"investigation-{actor}-{uuid.uuid4().hex[:6]}",
        task_queue=task_queue,
    )
    return env.client.get_workflow_handle(started.id)


def asked(script: Script) -> object:
    """The run waits for a person, and its request is posted (who may decide is known by then)."""
    return lambda s: s.pending is not None and s.pending.request_id in {p.request_id for p in script.posted}


def click(request_id: str, who: str, option: str = "approve") -> DecisionRequest:
    return DecisionRequest(request_id=request_id, option_id=option, decided_by=who, decided_by_name=who)


async def test_an_approver_of_an_earlier_round_has_no_say_in_a_later_one(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments = {
        "credential_stuffing": assessment(Response.APPROVE, [ActionKind.LOCK], playbook="credential-stuffing"),
        # a stronger finding later: it would act, but the action limit sends it to a person again
        "brute_force": assessment(Response.ACT, [ActionKind.LOCK], playbook="brute-force", score=90),
    }
    script.approvers = [["U_FIRST"], ["U_SECOND"]]
    script.permits = [False]
    handle = await start(env, queue, "u_7")
    await handle.signal(ADD_FINDING, finding("u_7", DetectionType.CREDENTIAL_STUFFING, "a1"))
    first = await until(handle, asked(script))
    assert first.pending is not None
    await handle.execute_update(DECIDE, click(first.pending.request_id, "U_FIRST", "dismiss"))
    await until(handle, lambda s: s.stage == Stage.DISMISSED)

    await handle.signal(ADD_FINDING, finding("u_7", DetectionType.BRUTE_FORCE, "a2"))
    second = await until(handle, lambda s: asked(script)(s) and s.pending.request_id != first.pending.request_id)  # type: ignore[operator]
    assert second.pending is not None
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(DECIDE, click(second.pending.request_id, "U_FIRST"))
    assert "not allowed" in str(refused.value.cause)
    await handle.execute_update(DECIDE, click(second.pending.request_id, "U_SECOND"))
    await until(handle, lambda s: s.stage == Stage.APPROVED)
    assert [w.action for w in script.writes] == [ActionKind.LOCK]
    await handle.terminate("test finished")


async def test_two_people_must_agree_and_nobody_votes_twice(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments = {
        "admin_elevation": assessment(Response.APPROVE, [ActionKind.LOCK], playbook="admin-elevation"),
    }
    script.approvers = [["U_A", "U_B", "U_C"]]
    handle = await start(env, queue, "u_8")
    await handle.signal(ADD_FINDING, finding("u_8", DetectionType.ADMIN_ELEVATION, "b1", required_approvers=2))
    pending = (await until(handle, asked(script))).pending
    assert pending is not None and pending.required_approvers == 2
    first = await handle.execute_update(DECIDE, click(pending.request_id, "U_A"), result_type=DecisionAck)
    assert first.status == "awaiting_more_approvers"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(DECIDE, click(pending.request_id, "U_A"), result_type=DecisionAck)
    assert "already decided" in str(refused.value.cause)
    assert not script.writes
    second = await handle.execute_update(DECIDE, click(pending.request_id, "U_B"), result_type=DecisionAck)
    assert second.status == "decided" and second.approvals == 2
    done = await until(handle, lambda s: s.stage == Stage.APPROVED)
    assert done.decisions[-1].decided_by == "U_A, U_B"
    await handle.terminate("test finished")


async def test_continue_as_new_carries_findings_decisions_and_applied_writes(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments = {
        "mfa_fatigue": assessment(Response.ACT, [ActionKind.RESET_MFA], playbook="mfa-fatigue"),
        "brute_force": assessment(Response.ACT, [ActionKind.LOCK], playbook="brute-force"),
    }
    handle = await start(env, queue, "u_9", RunOptions(continue_as_new_after=10))
    first_run = (await handle.describe()).run_id
    await handle.signal(ADD_FINDING, finding("u_9", DetectionType.MFA_FATIGUE, "c1"))
    carried = await until(handle, lambda s: len(s.decisions) == 1)
    assert carried.decisions[0].label == "acted"
    # the same finding again after continue-as-new is recognised; a new one is not acted on twice
    await handle.signal(ADD_FINDING, finding("u_9", DetectionType.MFA_FATIGUE, "c1"))
    await handle.signal(ADD_FINDING, finding("u_9", DetectionType.BRUTE_FORCE, "c2"))
    after = await until(handle, lambda s: s.playbook == "brute-force")
    assert (await handle.describe()).run_id != first_run, "the run continued as new"
    assert [d.label for d in after.decisions] == ["acted"]  # an equal response is not taken twice
    assert after.stage == Stage.ACTED and after.score == 70  # carried, not started over
    assert [w.action for w in script.writes] == [ActionKind.RESET_MFA]
    await handle.terminate("test finished")


async def test_a_removed_approver_and_an_unsigned_cli_decision_are_refused(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments = {
        "dormant_account": assessment(Response.APPROVE, [ActionKind.LOCK], playbook="dormant-account"),
    }
    script.approvers = [["U_A", "U_B"]]
    handle = await start(env, queue, "u_10")
    await handle.signal(ADD_FINDING, finding("u_10", DetectionType.DORMANT_ACCOUNT, "d1"))
    pending = (await until(handle, asked(script))).pending
    assert pending is not None
    script.removed.add("U_A")  # taken off the approvers after the request was posted
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(DECIDE, click(pending.request_id, "U_A"))
    assert "no longer allowed" in str(refused.value.cause)
    forged = DecisionRequest(
        request_id=pending.request_id, option_id="approve", decided_by="cli:mallory", via="cli", proof="forged"
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(DECIDE, forged)
    assert "did not check out" in str(refused.value.cause)
    assert not script.writes and (await status(handle)).pending is not None
    await handle.terminate("test finished")


async def test_the_cli_alone_does_not_meet_a_two_person_rule(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments = {
        "admin_elevation": assessment(Response.APPROVE, [ActionKind.LOCK], playbook="admin-elevation"),
    }
    script.approvers = [["U_A"]]
    handle = await start(env, queue, "u_11")
    await handle.signal(ADD_FINDING, finding("u_11", DetectionType.ADMIN_ELEVATION, "e1", required_approvers=2))
    pending = (await until(handle, asked(script))).pending
    assert pending is not None

    def cli(name: str) -> DecisionRequest:
        return DecisionRequest(
            request_id=pending.request_id, option_id="approve", decided_by=f"cli:{name}", via="cli", proof="valid"
        )

    await handle.execute_update(DECIDE, cli("alice"), result_type=DecisionAck)
    second = await handle.execute_update(DECIDE, cli("bob"), result_type=DecisionAck)
    assert second.status == "awaiting_more_approvers" and second.approvals == 2  # two operators, no Slack approver
    third = await handle.execute_update(DECIDE, click(pending.request_id, "U_A"), result_type=DecisionAck)
    assert third.status == "decided"
    await until(handle, lambda s: s.stage == Stage.APPROVED)
    await handle.terminate("test finished")
