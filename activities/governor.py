"""Asking the ActionGovernor workflow for a permit (update-with-start, from an activity)."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from riposte.models.governor import (
    GovernorInput,
    PermitDecision,
    PermitRequest,
    governor_workflow_id,
)


class GovernorActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name="Ask the action governor for a permit")
    async def acquire_permit(self, request: PermitRequest) -> PermitDecision:
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            "ActionGovernor",
            GovernorInput(),
            id=governor_workflow_id(self._task_queue),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="Rations automatic account actions across every run",
        )
        decision: PermitDecision = await self._client.execute_update_with_start_workflow(
            "acquire", request, start_workflow_operation=start, result_type=PermitDecision
        )
        return decision
