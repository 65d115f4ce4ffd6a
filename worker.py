"""The composition root: builds each activity class with its client, registers everything.

`riposte worker` runs this; tests build the same worker on their own task queue.
Scale out by running more of these against the same TEMPORAL_ADDRESS and task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.worker import Worker

from activities.akku import AkkuActivities
from activities.decide import ScoringActivities
from activities.deciders import DeciderActivities
from activities.detector import DetectorActivities
from activities.detector_metrics import serve_metrics
from activities.digest import DigestActivities
from activities.dispatch import DispatchActivities
from activities.governor import GovernorActivities, current_pause
from activities.slack import SlackActivities
from clients.akku.client import AkkuClient
from clients.slack import slack_client
from detect.models import DetectorInput
from riposte.models.governor import governor_task_queue
from riposte.pseudonyms import RunNames
from riposte.settings import Settings
from riposte.temporal import make_client
from workflows.alert import AlertWorkflow
from workflows.detector import DetectorWorkflow, detector_task_queue, detector_workflow_id
from workflows.digest import DigestWorkflow
from workflows.governor import ActionGovernor
from workflows.investigation import InvestigationWorkflow

log = logging.getLogger("riposte.worker")

# ActionGovernor stays registered on the main queue for governors started there before it had a
# queue of its own: they move over at their next continue-as-new (workflows/governor.py).
WORKFLOWS: Sequence[type] = (AlertWorkflow, InvestigationWorkflow, ActionGovernor, DetectorWorkflow, DigestWorkflow)


@contextlib.asynccontextmanager
async def activities(settings: Settings, client: Client, task_queue: str) -> AsyncIterator[list[Callable[..., Any]]]:
    """Every activity, bound to clients built once and closed on the way out."""
    async with AkkuClient.from_settings(settings) as akku, contextlib.AsyncExitStack() as exits:
        slack = slack_client(settings)
        akku_acts = AkkuActivities(akku, dry_run=settings.riposte_dry_run)
        dispatch = DispatchActivities(akku, client, task_queue, RunNames.from_settings(settings))
        governor = GovernorActivities(client, task_queue)
        slack_acts = SlackActivities(slack, settings, paused=lambda: current_pause(client, task_queue))
        deciders = DeciderActivities(slack_acts, akku, settings)
        digest = DigestActivities(client, slack)
        exits.push_async_callback(governor.aclose)
        yield [
            akku_acts.resolve_identities,
            akku_acts.ip_activity,
            akku_acts.apply_action,
            dispatch.enrich_and_dispatch,
            governor.acquire_permit,
            slack_acts.approvers,
            slack_acts.post_approval,
            slack_acts.update_approval,
            slack_acts.remind,
            slack_acts.notify,
            slack_acts.update_hold,
            deciders.confirm,
            ScoringActivities(settings.riposte_protected_actors).evaluate,
            slack_acts.post_digest,
            slack_acts.update_digest,
            digest.join,
            digest.decide_many,
            digest.still_pending,
            digest.post_thread,
        ]


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, client: Client, *, task_queue: str | None = None) -> AsyncIterator[Worker]:
    """A started worker; leaving the block shuts it down gracefully."""
    queue = task_queue or settings.temporal_task_queue
    async with activities(settings, client, queue) as acts:
        worker = Worker(
            client,
            task_queue=queue,
            workflows=list(WORKFLOWS),
            activities=acts,
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        # the governor's own queue: permits keep flowing while a storm backs up the main one
        governor = Worker(client, task_queue=governor_task_queue(queue), workflows=[ActionGovernor])
        async with governor, worker, detector(settings, client, queue):  # the governor outlives the runs
            yield worker


@contextlib.asynccontextmanager
async def detector(settings: Settings, client: Client, queue: str) -> AsyncIterator[None]:
    """With RIPOSTE_DETECT on: a worker for the detector's activity on its own queue (checkpoints
    reach Temporal within a second), and the DetectorWorkflow of this queue, started if need be."""
    if settings.riposte_metrics_port:
        with contextlib.suppress(OSError):  # another worker in this process serves them already
            serve_metrics(settings.riposte_http_host, settings.riposte_metrics_port)
    if settings.riposte_detect == "off":
        yield
        return
    async with AkkuClient.from_settings(settings) as akku:
        follower = Worker(
            client,
            task_queue=detector_task_queue(queue),
            activities=[DetectorActivities(settings, client, akku).follow_akku],
            max_heartbeat_throttle_interval=timedelta(seconds=1),
            default_heartbeat_throttle_interval=timedelta(seconds=1),
            graceful_shutdown_timeout=timedelta(0),
        )
        async with follower:
            await client.start_workflow(
                DetectorWorkflow.run,
                DetectorInput(),
                id=detector_workflow_id(queue),
                task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                static_summary=f"Riposte's detection from Akku's events ({settings.riposte_detect})",
            )
            yield


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the worker until SIGINT/SIGTERM (or `stop`), then drain and exit."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    client = await make_client(settings)
    async with running_worker(settings, client):
        log.info("worker polling task queue %s on %s", settings.temporal_task_queue, settings.target_host)
        await stop.wait()
    log.info("worker stopped")
