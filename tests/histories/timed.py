"""The investigation's time-driven branches, recorded on Temporal's time-skipping server.

The workflow code is the real InvestigationWorkflow; its Slack, Akku, governor and scoring
steps answer from a script (tests/support/doubles.py), so each branch is reached on purpose
and quickly: a reminder, the escalation to a second channel, the deadline with the fallback
(permit granted, permit refused, or no fallback after a refused automatic action), Slack down
at the ask and at the reminder, the quiet period closing the run, continue-as-new carrying the
state, a notify's FYI offer chosen or left alone; Undo by click and by the CLI, a time-boxed
lock lapsing, and Keep locked. Each history is exported for tests/histories/ (record.py writes
the files).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from playbooks.decide import DISMISS, offer_option
from riposte.models.common import ActionKind, DetectionType, Response
from riposte.models.playbook import Approval
from riposte.models.runs import (
    ADD_FINDING,
    DECIDE,
    STATUS,
    UNDO,
    DecisionRequest,
    Finding,
    InvestigationInput,
    InvestigationStatus,
    RunOptions,
)
from tests.support.doubles import Script, assessment, finding
from workflows.investigation import InvestigationWorkflow

APPROVAL = Approval(
    timeout=timedelta(minutes=15),
    remind_after=timedelta(minutes=5),
    escalate_after=timedelta(minutes=10),
    escalate_channel="C0LEADS",
    on_timeout="act",
    fallback_actions=[ActionKind.FORCE_PASSWORD_RESET, ActionKind.REVOKE_SESSIONS],
)


# the same schedule in seconds, for a branch recorded on the dev server in real time
SHORT = APPROVAL.model_copy(
    update={
        "timeout": timedelta(seconds=3),
        "remind_after": timedelta(seconds=1),
        "escalate_after": timedelta(seconds=2),
    }
)


def with_approval(base: Finding, approval: Approval) -> Finding:
    rules = base.playbook.playbook.model_copy(update={"approval": approval})
    return base.model_copy(update={"playbook": base.playbook.model_copy(update={"playbook": rules})})


async def pending(handle: WorkflowHandle[object, object]) -> InvestigationStatus:
    for _ in range(400):
        status: InvestigationStatus = await handle.query(STATUS, result_type=InvestigationStatus)
        if status.pending is not None:
            return status
        await asyncio.sleep(0.05)
    raise RuntimeError("the investigation never asked")


Branch = Callable[[WorkflowEnvironment, str, Script], Awaitable[WorkflowHandle[object, object]]]


async def _start(
    env: WorkflowEnvironment, queue: str, name: str, options: RunOptions | None = None
) -> WorkflowHandle[object, object]:
    return await env.client.start_workflow(
        "InvestigationWorkflow",
        InvestigationInput(actor_id=f"u_{name}", options=options or RunOptions()),
        id=f"investigation-{name}-{uuid.uuid4().hex[:6]}",
        task_queue=queue,
    )


async def reminder_escalation_and_fallback(
    env: WorkflowEnvironment, queue: str, script: Script
) -> WorkflowHandle[object, object]:
    """Nobody answers: reminded at 5 min, escalated at 10, the fallback (with a permit) at 15."""
    script.assessments["credential_stuffing"] = assessment(
        Response.APPROVE, [ActionKind.LOCK], playbook="credential-stuffing"
    )
    handle = await _start(env, queue, "timed1")
    await handle.signal(
        ADD_FINDING, with_approval(finding("u_timed1", DetectionType.CREDENTIAL_STUFFING, "t1"), APPROVAL)
    )
    await handle.result()  # skips time: remind, escalate, deadline, fallback, quiet period, close
    return handle


async def fallback_refused_then_a_person(
    env: WorkflowEnvironment, queue: str, script: Script
) -> WorkflowHandle[object, object]:
    """The deadline passes, the fallback's permit is refused: the run waits on; a person decides."""
    script.assessments["brute_force"] = assessment(Response.APPROVE, [ActionKind.LOCK], playbook="brute-force")
    script.permits = [False]
    handle = await _start(env, queue, "timed2")
    await handle.signal(ADD_FINDING, with_approval(finding("u_timed2", DetectionType.BRUTE_FORCE, "t2"), SHORT))
    status = await pending(handle)
    assert status.pending is not None
    await asyncio.sleep(5)  # past the deadline (real time): the permit is refused, the run waits on
    await handle.execute_update(
        DECIDE, DecisionRequest(request_id=status.pending.request_id, option_id="approve", decided_by="U0ANALYST")
    )
    for _ in range(200):  # acted on the person's choice
        if script.writes:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    await handle.terminate("recorded")
    return handle


async def refused_action_never_falls_back(
    env: WorkflowEnvironment, queue: str, script: Script
) -> WorkflowHandle[object, object]:
    """The action limit sends an automatic decision to a person; at the deadline no fallback."""
    script.assessments["mfa_fatigue"] = assessment(Response.ACT, [ActionKind.RESET_MFA], playbook="mfa-fatigue")
    script.permits = [False]
    handle = await _start(env, queue, "timed3")
    await handle.signal(ADD_FINDING, with_approval(finding("u_timed3", DetectionType.MFA_FATIGUE, "t3"), APPROVAL))
    status = await pending(handle)
    assert status.pending is not None
    await env.sleep(timedelta(minutes=20))
    await handle.execute_update(
        DECIDE, DecisionRequest(request_id=status.pending.request_id, option_id="dismiss", decided_by="U0ANALYST")
    )
    await handle.result()
    return handle


async def slack_down_at_ask_and_reminder(
    env: WorkflowEnvironment, queue: str, script: Script
) -> WorkflowHandle[object, object]:
    """Slack refuses the ask and the reminder's re-post; the next reminder delivers; a person decides."""
    script.assessments["impossible_travel"] = assessment(
        Response.APPROVE, [ActionKind.LOCK], playbook="impossible-travel"
    )
    script.post_failures = 2
    keep = APPROVAL.model_copy(update={"on_timeout": "keep_waiting", "escalate_channel": None, "escalate_after": None})
    handle = await _start(env, queue, "timed4")
    await handle.signal(ADD_FINDING, with_approval(finding("u_timed4", DetectionType.IMPOSSIBLE_TRAVEL, "t4"), keep))
    for _ in range(3):
        await env.sleep(timedelta(minutes=6))
    status = await pending(handle)
    assert status.pending is not None
    await handle.execute_update(
        DECIDE, DecisionRequest(request_id=status.pending.request_id, option_id="approve", decided_by="U0ANALYST")
    )
    await handle.result()
    return handle


async def continue_as_new_with_carried_state(
    env: WorkflowEnvironment, queue: str, script: Script
) -> WorkflowHandle[object, object]:
    """Past its history limit the run continues as new, carrying findings, decisions and writes."""
    script.assessments["low_and_slow"] = assessment(Response.ACT, [ActionKind.LOCK], playbook="low-and-slow")
    handle = await _start(env, queue, "timed5", RunOptions(continue_as_new_after=10))
    await handle.signal(ADD_FINDING, finding("u_timed5", DetectionType.LOW_AND_SLOW, "t5"))
    first = env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    for _ in range(400):
        described = await first.describe()
        if described.status is not None and described.status.name != "RUNNING":
            break
        await asyncio.sleep(0.05)
    return first


def _offering(script: Script) -> None:
    script.assessments["dormant_account"] = assessment(
        Response.NOTIFY, [], playbook="dormant-account", score=20
    ).model_copy(update={"offer": [offer_option([ActionKind.LOCK, ActionKind.REVOKE_SESSIONS]), DISMISS]})


async def notify_offer_chosen(env: WorkflowEnvironment, queue: str, script: Script) -> WorkflowHandle[object, object]:
    """A notify's FYI offers the band above it; a person chooses it; the quiet period closes the run."""
    _offering(script)
    handle = await _start(env, queue, "timed6")
    await handle.signal(ADD_FINDING, finding("u_timed6", DetectionType.DORMANT_ACCOUNT, "t6"))
    for _ in range(400):  # posted (not queried: a query during the scoring step splits its workflow task)
        if script.posted:
            break
        await asyncio.sleep(0.05)
    (offer,) = script.posted
    await handle.execute_update(
        DECIDE, DecisionRequest(request_id=offer.request_id, option_id="approve", decided_by="U0ANALYST")
    )
    await handle.result()
    return handle


async def notify_offer_nobody_chooses(
    env: WorkflowEnvironment, queue: str, script: Script
) -> WorkflowHandle[object, object]:
    """A notify's FYI offers the band above it; nobody chooses; the close withdraws its buttons."""
    _offering(script)
    handle = await _start(env, queue, "timed7")
    await handle.signal(ADD_FINDING, finding("u_timed7", DetectionType.DORMANT_ACCOUNT, "t7"))
    await handle.result()
    return handle


def with_contain_for(base: Finding, contain_for: timedelta) -> Finding:
    rules = base.playbook.playbook.model_copy(update={"contain_for": contain_for})
    return base.model_copy(update={"playbook": base.playbook.model_copy(update={"playbook": rules})})


async def held(handle: WorkflowHandle[object, object], script: Script) -> InvestigationStatus:
    """The run's holds, once it has written to Akku. No query before that: a query that reaches a
    workflow task still waiting on its scoring local activity splits the task, and such a history
    does not replay with a patch checked after it."""
    for _ in range(400):
        if script.writes:
            break
        await asyncio.sleep(0.05)
    for _ in range(400):
        status: InvestigationStatus = await handle.query(STATUS, result_type=InvestigationStatus)
        if status.holds:
            return status
        await asyncio.sleep(0.05)
    raise RuntimeError("the investigation never applied anything")


async def undo_by_click(env: WorkflowEnvironment, queue: str, script: Script) -> WorkflowHandle[object, object]:
    """An automatic lock, then Undo from Slack: confirmed, unlocked, recorded, the notice updated."""
    script.assessments["mfa_fatigue"] = assessment(Response.ACT, [ActionKind.LOCK], playbook="mfa-fatigue")
    handle = await _start(env, queue, "undo1")
    await handle.signal(ADD_FINDING, finding("u_undo1", DetectionType.MFA_FATIGUE, "x1"))
    (hold,) = (await held(handle, script)).holds
    await handle.execute_update(
        UNDO, DecisionRequest(request_id=hold.request_id, option_id="undo", decided_by="U0ANALYST")
    )
    await handle.result()
    return handle


async def undo_by_cli_after_approval(
    env: WorkflowEnvironment, queue: str, script: Script
) -> WorkflowHandle[object, object]:
    """An approved lock, then `riposte undo`: the decided message gets the undo too."""
    script.assessments["brute_force"] = assessment(Response.APPROVE, [ActionKind.LOCK], playbook="brute-force")
    handle = await _start(env, queue, "undo2")
    await handle.signal(ADD_FINDING, finding("u_undo2", DetectionType.BRUTE_FORCE, "x2"))
    for _ in range(400):  # posted (who may decide is known by then); no query before: see held()
        if script.posted:
            break
        await asyncio.sleep(0.05)
    status = await pending(handle)
    assert status.pending is not None
    await handle.execute_update(
        DECIDE, DecisionRequest(request_id=status.pending.request_id, option_id="approve", decided_by="U0ANALYST")
    )
    (hold,) = (await held(handle, script)).holds
    await handle.execute_update(
        UNDO,
        DecisionRequest(request_id=hold.request_id, option_id="undo", decided_by="cli:maria", via="cli", proof="valid"),
    )
    await handle.result()
    return handle


async def contain_for_lapses(env: WorkflowEnvironment, queue: str, script: Script) -> WorkflowHandle[object, object]:
    """A lock time-boxed to 4 h: the run outlives its 1 h quiet period, unlocks at 4 h, then closes."""
    script.assessments["mfa_fatigue"] = assessment(Response.ACT, [ActionKind.LOCK], playbook="mfa-fatigue")
    handle = await _start(env, queue, "undo3")
    boxed = with_contain_for(finding("u_undo3", DetectionType.MFA_FATIGUE, "x3"), timedelta(hours=4))
    await handle.signal(ADD_FINDING, boxed)
    await handle.result()
    return handle


async def keep_locked(env: WorkflowEnvironment, queue: str, script: Script) -> WorkflowHandle[object, object]:
    """A time-boxed lock kept by a person: the lapse is cancelled, the run closes on its quiet period."""
    script.assessments["mfa_fatigue"] = assessment(Response.ACT, [ActionKind.LOCK], playbook="mfa-fatigue")
    handle = await _start(env, queue, "undo4")
    boxed = with_contain_for(finding("u_undo4", DetectionType.MFA_FATIGUE, "x4"), timedelta(hours=4))
    await handle.signal(ADD_FINDING, boxed)
    (hold,) = (await held(handle, script)).holds
    await handle.execute_update(
        UNDO, DecisionRequest(request_id=hold.request_id, option_id="keep", decided_by="U0ANALYST")
    )
    await handle.result()
    return handle


CONTAINMENT: tuple[Branch, ...] = (undo_by_click, undo_by_cli_after_approval, contain_for_lapses, keep_locked)


# recorded on the dev server in real time (seconds-long schedule); the rest skip time
REAL_TIME: tuple[Branch, ...] = (fallback_refused_then_a_person,)
BRANCHES: tuple[Branch, ...] = (
    reminder_escalation_and_fallback,
    refused_action_never_falls_back,
    slack_down_at_ask_and_reminder,
    notify_offer_chosen,
    notify_offer_nobody_chooses,
    *CONTAINMENT,
    # last: its second run stays open on a queue nobody polls, which stops the server skipping time
    continue_as_new_with_carried_state,
)


async def _warm_up(env: WorkflowEnvironment) -> None:
    script = Script(approvers=[["U0ANALYST"]])
    queue = f"warm-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=queue, workflows=[InvestigationWorkflow], activities=script.activities()):
        script.assessments["low_and_slow"] = assessment(Response.OBSERVE, [], playbook="low-and-slow")
        handle = await _start(env, queue, "warm")
        await handle.signal(ADD_FINDING, finding("u_warm", DetectionType.LOW_AND_SLOW, "w1"))
        for _ in range(200):
            if (await handle.query(STATUS, result_type=InvestigationStatus)).decisions:
                break
            await asyncio.sleep(0.05)
        await handle.terminate("warm-up")


async def record_timed(
    env: WorkflowEnvironment, branches: tuple[Branch, ...] = BRANCHES
) -> list[tuple[str, WorkflowHistory]]:
    """Each branch on its own task queue; returns (branch name, first run's history) pairs."""
    histories = []
    # a warm worker: a workflow task slowed by a cold start (the sandbox importing the workflow
    # modules) can outlast the scoring local activity's task, and such a history does not replay
    # with a patch checked after it (an SDK edge case noted in docs/patches.md)
    await _warm_up(env)
    for branch in branches:
        script = Script(approvers=[["U0ANALYST"]])
        queue = f"timed-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client, task_queue=queue, workflows=[InvestigationWorkflow], activities=script.activities()
        ):
            handle = await branch(env, queue, script)
            first = env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id or handle.run_id)
            histories.append((branch.__name__, await first.fetch_history()))
    return histories
