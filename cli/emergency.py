"""The emergency stop: `riposte pause-actions` / `resume-actions`, and what `riposte runs` shows of it.

The switch lives in the ActionGovernor workflow, which every automatic write asks for a permit
first: pausing it stops automatic writes on every worker within the time a permit takes, and
sends each decision that would have acted to a person instead. No file, no process flag.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from activities.governor import current_pause as governor_pause
from riposte.models.governor import (
    PAUSE,
    RESUME,
    GovernorInput,
    GovernorState,
    Pause,
    governor_task_queue,
    governor_workflow_id,
)
from riposte.settings import Settings


async def _switch(client: Client, settings: Settings, update: str, pause: Pause) -> GovernorState:
    queue = settings.temporal_task_queue
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        "ActionGovernor",
        GovernorInput(),
        id=governor_workflow_id(queue),
        task_queue=governor_task_queue(queue),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="Rations automatic account actions across every run",
    )
    state: GovernorState = await client.execute_update_with_start_workflow(
        update, pause, start_workflow_operation=start, result_type=GovernorState
    )
    return state


async def pause_actions(client: Client, settings: Settings, *, by: str, reason: str) -> GovernorState:
    return await _switch(client, settings, PAUSE, Pause(by=by, reason=reason))


async def resume_actions(client: Client, settings: Settings, *, by: str) -> GovernorState:
    return await _switch(client, settings, RESUME, Pause(by=by, reason="resumed"))


async def current_pause(client: Client, settings: Settings) -> Pause | None:
    """The pause in force, or None (also when no governor has run yet)."""
    return await governor_pause(client, settings.temporal_task_queue)
