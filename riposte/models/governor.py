"""The automatic-action governor's messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from riposte.models.common import Model

GOVERNOR_QUEUE_SUFFIX = "-governor"
# Message names, shared by senders and the governor workflow.
ACQUIRE = "acquire"  # update: one permit request
ACQUIRE_BATCH = "acquire_batch"  # update: a worker's concurrent requests, answered in order
STATE = "state"  # query: grants, answers and the emergency stop
PAUSE = "pause"  # update: stop every automatic write until resumed
RESUME = "resume"  # update: automatic writes may go on


def governor_workflow_id(task_queue: str) -> str:
    """One governor per task queue: the deployment's unit, and its workers run the governor."""
    return f"riposte-action-governor/{task_queue}"


def governor_task_queue(task_queue: str) -> str:
    """The governor's own task queue: its updates never wait behind a storm of investigations'
    workflow tasks on the main queue (every worker also polls this one)."""
    if task_queue.endswith(GOVERNOR_QUEUE_SUFFIX):
        return task_queue
    return f"{task_queue}{GOVERNOR_QUEUE_SUFFIX}"


class PermitRequest(Model):
    key: str  # idempotency: the same key always gets the same answer
    count: int = Field(default=1, ge=1)
    limit: int = Field(ge=0)
    window_seconds: float = Field(gt=0)
    requested_by: str = ""  # workflow id, for the record


class Pause(Model):
    """The emergency stop: who pulled it, why, when."""

    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)
    at: datetime | None = None  # set by the governor


class PermitDecision(Model):
    key: str
    granted: bool
    used_in_window: int  # automatic actions already granted in the window, before this request
    limit: int
    window_seconds: float
    paused: Pause | None = None  # refused because automatic actions are paused


class Grant(Model):
    key: str
    at: datetime
    count: int
    requested_by: str = ""


class GovernorState(Model):
    grants: list[Grant] = Field(default_factory=list)  # granted permits, newest last
    answered: dict[str, bool] = Field(default_factory=dict)  # key -> granted, for idempotency
    paused: Pause | None = None  # the emergency stop, carried across continue-as-new


class GovernorInput(Model):
    state: GovernorState = Field(default_factory=GovernorState)


class PermitBatch(Model):
    """Permit requests of one worker process, answered in one update (in order, atomically)."""

    requests: list[PermitRequest] = Field(min_length=1, max_length=500)


class PermitBatchDecision(Model):
    decisions: list[PermitDecision]
