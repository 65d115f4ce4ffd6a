"""DetectorWorkflow: keeps the Akku-stream detector running, one per task queue.

Its id is `riposte-detector/<task queue>`; every worker with RIPOSTE_DETECT on starts it at
start-up (an existing one is kept). It runs one long activity, `follow_akku`, on the
detector's own task queue (only workers with detection on poll it), with a heartbeat
timeout and unlimited retries: the activity's position travels in its heartbeat details,
never in this history, and a retry resumes from it. Every hour the activity returns its
checkpoint and is called again; after a day of those the workflow continues as new.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.detector import DetectorActivities
    from detect.models import DetectorInput, FollowInput, FollowResult

HEARTBEAT_TIMEOUT = timedelta(seconds=30)
# unlimited attempts: the detector must come back after any outage; capped backoff
FOLLOW_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)


def detector_workflow_id(task_queue: str) -> str:
    return f"riposte-detector/{task_queue}"


def detector_task_queue(task_queue: str) -> str:
    """The queue of the follow_akku activity: polled only by workers with RIPOSTE_DETECT on."""
    return f"{task_queue}-detector"


@workflow.defn(name="DetectorWorkflow")
class DetectorWorkflow:
    @workflow.run
    async def run(self, inp: DetectorInput) -> FollowResult:  # never returns: it continues as new
        checkpoint = inp.checkpoint
        queue = detector_task_queue(workflow.info().task_queue)
        run_for = timedelta(seconds=inp.run_for_seconds)
        for _ in range(inp.runs_per_history):
            result = await workflow.execute_activity_method(
                DetectorActivities.follow_akku,
                FollowInput(checkpoint=checkpoint, run_for_seconds=inp.run_for_seconds),
                task_queue=queue,
                start_to_close_timeout=run_for + timedelta(minutes=10),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=FOLLOW_RETRY,
            )
            checkpoint = result.checkpoint
        workflow.continue_as_new(
            DetectorInput(
                checkpoint=checkpoint, run_for_seconds=inp.run_for_seconds, runs_per_history=inp.runs_per_history
            )
        )
