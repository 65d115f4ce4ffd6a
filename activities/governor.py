"""Asking the ActionGovernor workflow for a permit (update-with-start, from an activity)."""

from __future__ import annotations

import asyncio
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

# Temporal admits 10 in-flight updates per workflow (history.maxInFlightUpdates); a storm of
# automatic actions must queue here rather than be refused there. Per worker process: with N
# workers, keep N x PERMITS_IN_FLIGHT under the server's limit.
PERMITS_IN_FLIGHT = 4


class GovernorActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue
        self._in_flight = asyncio.Semaphore(PERMITS_IN_FLIGHT)

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
        async with self._in_flight:
            decision: PermitDecision = await self._client.execute_update_with_start_workflow(
                "acquire", request, start_workflow_operation=start, result_type=PermitDecision
            )
        return decision
