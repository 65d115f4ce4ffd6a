"""The investigation's holds with its activities replaced by test doubles (tests/support/doubles.py),
on Temporal's time-skipping server: what the `undo` validator refuses before the history, an unlock
Akku refuses, and a time-boxed lock carried across continue-as-new."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from riposte.models.common import ActionKind, DetectionType, Response
from riposte.models.runs import (
    ADD_FINDING,
    DECIDE,
    STATUS,
    UNDO,
    DecisionLabel,
    DecisionRequest,
    InvestigationInput,
    InvestigationOutcome,
    InvestigationStatus,
    RunOptions,
    UndoAck,
)
from tests.histories.timed import with_contain_for
from tests.support.doubles import Script, assessment, finding
from workflows.investigation import InvestigationWorkflow

pytestmark = pytest.mark.time_skipping


@pytest.fixture
async def running(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[tuple[Script, str]]:
    script = Script(approvers=[["U0ANALYST"]])
    async with Worker(
        env.client, task_queue=task_queue, workflows=[InvestigationWorkflow], activities=script.activities()
    ):
        yield script, task_queue


async def start(
    env: WorkflowEnvironment, queue: str, actor: str, options: RunOptions | None = None
) -> WorkflowHandle[object, object]:
    started = await env.client.start_workflow(
        "InvestigationWorkflow",
        InvestigationInput(actor_id=actor, options=options or RunOptions()),
        id=f"investigation-{actor}-{uuid.uuid4().hex[:6]}",
        task_queue=queue,
    )
    return env.client.get_workflow_handle(started.id)


async def holding(handle: WorkflowHandle[object, object], script: Script) -> InvestigationStatus:
    """No query before the run has written: see tests/histories/timed.py `held()`."""
    for _ in range(400):
        if script.writes:
            break
        await asyncio.sleep(0.05)
    for _ in range(400):
        try:
            status: InvestigationStatus = await handle.query(STATUS, result_type=InvestigationStatus)
        except RPCError:  # asked just as the run continued as new
            await asyncio.sleep(0.05)
            continue
        if status.holds:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("no hold")


def undo(request_id: str, who: str = "U0ANALYST", option: str = "undo", **extra: object) -> DecisionRequest:
    return DecisionRequest(request_id=request_id, option_id=option, decided_by=who, decided_by_name=who, **extra)


async def finish(handle: WorkflowHandle[object, object], script: Script, updates: int) -> None:
    """Terminate once the messages are updated: an activity cut off by a termination can hold the
    time-skipping server's clock for the tests after it."""
    for _ in range(400):
        if len(script.hold_updates) >= updates:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    await handle.terminate("test finished")


async def undo_updates(handle: WorkflowHandle[object, object]) -> int:
    """How many `undo` updates the run's history has accepted."""
    return sum(
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == UNDO
        for e in (await handle.fetch_history()).events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    )


async def refused(handle: WorkflowHandle[object, object], request: DecisionRequest) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(UNDO, request, result_type=UndoAck)
    return str(failed.value.cause)


async def test_the_validator_refuses_before_the_history(env: WorkflowEnvironment, running: tuple[Script, str]) -> None:
    script, queue = running
    script.assessments["brute_force"] = assessment(Response.APPROVE, [ActionKind.LOCK], playbook="brute-force")
    handle = await start(env, queue, "u_v1")
    await handle.signal(ADD_FINDING, finding("u_v1", DetectionType.BRUTE_FORCE, "v1"))
    for _ in range(400):
        if script.posted:
            break
        await asyncio.sleep(0.05)
    assert "nothing to undo" in await refused(handle, undo("undo-0"))
    await handle.execute_update(DECIDE, undo(script.posted[0].request_id, option="approve"))
    (hold,) = (await holding(handle, script)).holds
    assert hold.allowed == ["U0ANALYST"]  # the round's approvers: known to the validator
    assert "unknown undo request" in await refused(handle, undo("undo-7"))
    assert "unknown option" in await refused(handle, undo(hold.request_id, option="approve"))
    assert "this lock does not lapse" in await refused(handle, undo(hold.request_id, option="keep"))
    assert "U_OTHER is not allowed to undo" in await refused(handle, undo(hold.request_id, who="U_OTHER"))
    subject = undo(hold.request_id, decided_by_email="u_v1@example.com")
    assert "the person under investigation cannot undo it" in await refused(handle, subject)
    assert "must name the operator" in await refused(handle, undo(hold.request_id, who="cli:", via="cli"))
    assert await undo_updates(handle) == 0  # none of these reached the history
    assert not script.confirmed[1:]  # and none was sent to the worker's check
    ack = await handle.execute_update(UNDO, undo(hold.request_id), result_type=UndoAck)
    assert ack.outcome == "undone" and [r.action for r in ack.results] == [ActionKind.UNLOCK]
    assert "already undone by U0ANALYST" in await refused(handle, undo(hold.request_id))
    assert [w.action for w in script.writes] == [ActionKind.LOCK, ActionKind.UNLOCK]
    assert script.writes[-1].idempotency_key.endswith(":undo:0:unlock")
    await finish(handle, script, 1)


async def test_nothing_reversible_is_explained(env: WorkflowEnvironment, running: tuple[Script, str]) -> None:
    script, queue = running
    script.assessments["mfa_fatigue"] = assessment(
        Response.ACT, [ActionKind.RESET_MFA, ActionKind.REVOKE_SESSIONS], playbook="mfa-fatigue"
    )
    handle = await start(env, queue, "u_v2")
    await handle.signal(ADD_FINDING, finding("u_v2", DetectionType.MFA_FATIGUE, "v2"))
    (hold,) = (await holding(handle, script)).holds
    assert hold.reversible == [] and len(hold.irreversible) == 2
    said = await refused(handle, undo(hold.request_id))
    assert "nothing here can be undone" in said and "reset MFA" in said and "ended sessions" in said
    (notice,) = script.notices
    assert notice.hold == hold
    await handle.terminate("test finished")


async def test_an_unlock_akku_refuses_leaves_the_lock_and_can_be_tried_again(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments["mfa_fatigue"] = assessment(Response.ACT, [ActionKind.LOCK], playbook="mfa-fatigue")
    script.failing = {ActionKind.UNLOCK}
    handle = await start(env, queue, "u_v3")
    await handle.signal(ADD_FINDING, finding("u_v3", DetectionType.MFA_FATIGUE, "v3"))
    (hold,) = (await holding(handle, script)).holds
    ack = await handle.execute_update(UNDO, undo(hold.request_id), result_type=UndoAck)
    assert ack.outcome == "failed" and ack.results[0].status == "failed"
    status: InvestigationStatus = await handle.query(STATUS, result_type=InvestigationStatus)
    assert status.holds[0].outcome == "held" and "still locked" in status.decisions[-1].note
    script.failing = set()
    ack = await handle.execute_update(UNDO, undo(hold.request_id), result_type=UndoAck)
    assert ack.outcome == "undone"
    keys = [w.idempotency_key for w in script.writes if w.action is ActionKind.UNLOCK]
    assert len(keys) == 2 and keys[0] == keys[1]  # the same key: Akku applies it once
    await finish(handle, script, 2)


async def test_a_time_boxed_lock_is_carried_across_continue_as_new_and_lapses_once(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments["mfa_fatigue"] = assessment(Response.ACT, [ActionKind.LOCK], playbook="mfa-fatigue")
    started = await env.client.start_workflow(
        "InvestigationWorkflow",
        InvestigationInput(actor_id="u_v4", options=RunOptions(continue_as_new_after=10)),
        id=f"investigation-u_v4-{uuid.uuid4().hex[:6]}",
        task_queue=queue,
    )
    handle = env.client.get_workflow_handle(started.id)
    boxed = with_contain_for(finding("u_v4", DetectionType.MFA_FATIGUE, "v4"), timedelta(hours=4))
    await handle.signal(ADD_FINDING, boxed)
    await holding(handle, script)  # acted and held, all in the run's first workflow task (lean-acting-v1)
    # a second finding is evaluated past the history threshold: the run continues as new after it
    again = with_contain_for(finding("u_v4", DetectionType.MFA_FATIGUE, "v4b"), timedelta(hours=4))
    await handle.signal(ADD_FINDING, again)
    first_run = env.client.get_workflow_handle(started.id, run_id=started.first_execution_run_id)
    for _ in range(400):  # continued as new (a query racing the hand-over can stall the test server's clock)
        if (await first_run.describe()).status is not WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(0.05)
    first = (await holding(handle, script)).holds[0]
    await env.sleep(timedelta(hours=5))  # past the 1 h quiet period and the 4 h lapse
    outcome = await env.client.get_workflow_handle(started.id, result_type=InvestigationOutcome).result()
    assert outcome.decision is DecisionLabel.UNDONE and outcome.decided_by == "policy (contain_for lapsed)"
    assert first.lapses_at is not None and outcome.closed_at >= first.lapses_at
    assert [w.action for w in script.writes] == [ActionKind.LOCK, ActionKind.UNLOCK]
    history = await first_run.fetch_history()
    assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
