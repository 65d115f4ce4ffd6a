"""An FYI's open choice (workflows/offer.py) with the investigation's activities replaced by test
doubles (tests/support/doubles.py), on Temporal's time-skipping server: superseded by a stronger
finding, and carried across continue-as-new."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from playbooks.decide import DISMISS, offer_option
from riposte.models.common import ActionKind, DetectionType, Response
from riposte.models.runs import ADD_FINDING, DECIDE, RunOptions, Stage
from tests.support.doubles import Script, assessment, finding
from tests.workflows.test_investigation import click, running, start, until

__all__ = ["running"]  # the fixture
pytestmark = pytest.mark.time_skipping

NOTIFY = assessment(Response.NOTIFY, [], playbook="dormant-account", score=20).model_copy(
    update={"offer": [offer_option([ActionKind.LOCK, ActionKind.REVOKE_SESSIONS]), DISMISS]}
)


async def test_a_stronger_finding_supersedes_an_open_offer(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments = {
        "dormant_account": NOTIFY,
        "impossible_travel": assessment(Response.APPROVE, [ActionKind.LOCK], playbook="impossible-travel"),
    }
    script.approvers = [["U0ANALYST"]]
    handle = await start(env, queue, "u_o1")
    await handle.signal(ADD_FINDING, finding("u_o1", DetectionType.DORMANT_ACCOUNT, "o1"))
    offered = await until(handle, lambda s: s.offer is not None and len(script.posted) == 1)
    assert offered.offer is not None and offered.pending is None and offered.stage == Stage.NOTIFIED
    assert script.posted[0].offer and [o.id for o in script.posted[0].assessment.options] == ["approve", "dismiss"]

    await handle.signal(ADD_FINDING, finding("u_o1", DetectionType.IMPOSSIBLE_TRAVEL, "o2"))
    asked = await until(handle, lambda s: s.pending is not None and len(script.posted) == 2)
    assert asked.offer is None  # superseded: its message says so and loses its buttons
    (withdrawn,) = [u for u in script.updates if u.request.request_id == offered.offer.request_id]
    assert withdrawn.headline == "Superseded: score now 70" and not withdrawn.keep_buttons
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(DECIDE, click(offered.offer.request_id, "U0ANALYST"))
    assert "no longer current" in str(refused.value.cause)
    assert script.writes == []
    await handle.terminate("test finished")


async def test_an_open_offer_is_carried_across_continue_as_new_and_still_decides(
    env: WorkflowEnvironment, running: tuple[Script, str]
) -> None:
    script, queue = running
    script.assessments = {"dormant_account": NOTIFY}
    script.approvers = [["U0ANALYST"]]
    handle = await start(env, queue, "u_o2", RunOptions(continue_as_new_after=10))
    first_run = (await handle.describe()).run_id
    await handle.signal(ADD_FINDING, finding("u_o2", DetectionType.DORMANT_ACCOUNT, "o3"))
    offered = await until(handle, lambda s: s.offer is not None)
    assert offered.offer is not None
    for _ in range(100):
        if (await handle.describe()).run_id != first_run:
            break
        await env.sleep(0.05)
    assert (await handle.describe()).run_id != first_run, "the run continued as new"
    carried = await until(handle, lambda s: s.offer is not None)
    assert carried.offer is not None and carried.offer.request_id == offered.offer.request_id
    with pytest.raises(WorkflowUpdateFailedError) as refused:  # who may decide was carried too
        await handle.execute_update(DECIDE, click(offered.offer.request_id, "U0INTRUDER"))
    assert "not allowed" in str(refused.value.cause)
    await handle.execute_update(DECIDE, click(offered.offer.request_id, "U0ANALYST"))
    done = await until(handle, lambda s: s.stage == Stage.APPROVED)
    assert sorted(w.action for w in script.writes) == [ActionKind.LOCK, ActionKind.REVOKE_SESSIONS]
    assert done.decisions[-1].decided_by == "U0ANALYST" and done.offer is None
    await handle.terminate("test finished")
