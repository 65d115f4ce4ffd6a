"""Committed histories replay against the current code; workflow changes are never silent.

The histories under `tests/histories/` were recorded from real runs (`make histories`).
A replay failure means the current workflow code would take a different path on a run
that is already in flight in production: gate the change with `workflow.patched()`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from riposte.models.governor import GovernorInput, GovernorState
from riposte.temporal import data_converter
from tests import fingerprints
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
HISTORIES = [p for p in HISTORIES if p.name != "fingerprints.json"]


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_there_are_histories_of_every_workflow() -> None:
    kinds = {load(p).events[0].workflow_execution_started_event_attributes.workflow_type.name for p in HISTORIES}
    assert {"AlertWorkflow", "InvestigationWorkflow", "ActionGovernor"} <= kinds


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_committed_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=data_converter())
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


@workflow.defn(name="ActionGovernor", sandboxed=False)
class ChangedGovernor:
    """The governor with an unpatched extra timer: replay must refuse it."""

    @workflow.run
    async def run(self, inp: GovernorInput) -> GovernorState:
        await workflow.sleep(timedelta(seconds=1))
        return inp.state


async def test_an_unpatched_change_is_caught_by_replay() -> None:
    governor = [
        p
        for p in HISTORIES
        if load(p).events[0].workflow_execution_started_event_attributes.workflow_type.name == "ActionGovernor"
    ]
    assert governor, "no ActionGovernor history committed"
    replayer = Replayer(workflows=[ChangedGovernor], data_converter=data_converter())
    result = await replayer.replay_workflow(load(governor[0]), raise_on_replay_failure=False)
    assert result.replay_failure is not None


def test_workflow_code_matches_the_recorded_fingerprints() -> None:
    changed = {m: h for m, h in fingerprints.current().items() if fingerprints.recorded().get(m) != h}
    assert not changed, (
        f"workflow code changed since its histories were recorded: {sorted(changed)}. If the change alters the "
        "sequence of commands, gate it with workflow.patched('<id>'); then `make histories` to record new "
        "histories (keep the old ones: they must still replay) and `make fingerprints` to accept the change."
    )
