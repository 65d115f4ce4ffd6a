"""The invariants' skeleton: the Temporal commands the engine's invariants require, none of Riposte's code.

Riposte's cost over the floor (bench/floor.py) has two parts: what Temporal charges for the
shape its invariants require, and Riposte's own code inside that shape. The skeleton has the
shape alone. For a one-person alert acted on automatically it makes the floor's Akku and Slack
calls through the same clients and simulators, and issues the commands Riposte's lean path does
(docs/benchmarks.md, per-alert accounting), each kept for an invariant the engine issue names:

- an alert run whose id is the alert's: a redelivered alert is a duplicate, even after its
  investigation has closed. It holds one workflow task with one local activity: the person's
  Akku reads and the signal-with-start of the person's run;
- a run per person, signalled-with-start under the person's id: one investigation per person,
  which later alerts about the same person join. Its first workflow task holds a local activity
  for the evaluation (the decision explainable from the history: a no-op here), a local activity
  taking a permit (an update on the governor: the action limit holds across workers; requests
  coalesced into few updates, as Riposte's are), the two
  writes as local activities, one upsert (the run's stage, searchable in the UI), a local
  activity for the Slack notice, and the quiet-period timer (the correlation window), which
  keeps the run open as an investigation stays open;
- the governor: one run for the round, an update per batch of permits.

There is no gateway (runs are started directly, as the floor's are), no scoring, playbooks,
guards, patches or models, and the workflow module is small, so the sandbox's re-import of it
for each run is cheap. Riposte's CPU over the skeleton's is therefore what its own code and the
gateway's HTTP hop cost; the skeleton's over the floor's is what the invariants cost in Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx

    from bench import actions
    from bench.actions import Counts
    from bench.baseline import saturate_pool
    from bench.floor import ACTIONS, FloorActivities
    from bench.sims import applied_writes
    from cli import driver
    from cli.stack import Stack
    from clients.akku.client import AkkuClient
    from clients.slack import slack_client
    from riposte import search_attributes as sa
    from riposte.models.common import ActionKind

LOCAL = timedelta(seconds=5)  # Riposte's local budget (activities/retry.py LOCAL_BUDGET)
QUIET = timedelta(hours=1)  # Riposte's default quiet period (the accounting closes runs after 3 s)


class Permits:
    """Permit requests coalesced into few governor updates, as Riposte's are (activities/governor.py:
    Temporal admits 10 in-flight updates per workflow, so one update per permit aborts under load):
    whatever queued while a batch was in flight goes out in the next, at most 2 in flight."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._waiting: dict[str, list[asyncio.Future[bool]]] = {}
        self._in_flight = asyncio.Semaphore(2)

    async def acquire(self, governor: str) -> bool:
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(governor, []).append(answer)
        async with self._in_flight:
            batch, self._waiting[governor] = self._waiting.get(governor, []), []
            if batch:
                try:
                    granted = await self._client.get_workflow_handle(governor).execute_update(
                        Governor.acquire, len(batch)
                    )
                except Exception as exc:  # noqa: BLE001 - every waiting request learns of it; its local activity retries
                    for each in batch:
                        each.set_exception(exc)
                else:
                    for each in batch:
                        each.set_result(granted)
        return await answer


class SkeletonActivities:
    def __init__(self, akku: AkkuClient, floor: FloorActivities, client: Client, queue: str) -> None:
        self._akku, self._floor, self._client, self._queue = akku, floor, client, queue
        self._permits = Permits(client)

    @activity.defn(name="bench-skeleton-dispatch")
    async def dispatch(self, actor: str, governor: str, quiet: float) -> int:
        """The person's Akku reads, then the finding to the person's run (started if need be)."""
        events = await self._floor.read(actor)
        await self._client.start_workflow(
            Person.run,
            args=[actor, governor, quiet],
            id=f"bench-skeleton-person-{actor}",
            task_queue=self._queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal="finding",
            start_signal_args=[activity.info().workflow_id],
        )
        return events

    @activity.defn(name="bench-skeleton-evaluate")
    async def evaluate(self, actor: str) -> str:
        return f"{actor}: acted on"

    @activity.defn(name="bench-skeleton-permit")
    async def permit(self, governor: str) -> bool:
        return await self._permits.acquire(governor)

    @activity.defn(name="bench-skeleton-write")
    async def write(self, actor: str, action: ActionKind) -> None:
        key = activity.info().workflow_id or "bench-skeleton"
        await self._akku.act(actor, action, reason="bench skeleton", reference=key, idempotency_key=f"{key}:{action}")

    @activity.defn(name="bench-skeleton-notify")
    async def notify(self, actor: str) -> int:
        return await self._floor.notify(actor)


@workflow.defn(name="BenchSkeletonAlert")
class Alert:
    @workflow.run
    async def run(self, actor: str, governor: str, quiet: float = QUIET.total_seconds()) -> int:
        return await workflow.execute_local_activity_method(
            SkeletonActivities.dispatch, args=[actor, governor, quiet], start_to_close_timeout=LOCAL
        )


@workflow.defn(name="BenchSkeletonPerson")
class Person:
    def __init__(self) -> None:
        self.findings: list[str] = []

    @workflow.signal
    def finding(self, alert_id: str) -> None:
        self.findings.append(alert_id)

    @workflow.run
    async def run(self, actor: str, governor: str, quiet: float) -> None:
        await workflow.wait_condition(lambda: bool(self.findings))
        await workflow.execute_local_activity_method(SkeletonActivities.evaluate, actor, start_to_close_timeout=LOCAL)
        if await workflow.execute_local_activity_method(
            SkeletonActivities.permit, governor, start_to_close_timeout=LOCAL
        ):
            await asyncio.gather(
                *(
                    workflow.execute_local_activity_method(
                        SkeletonActivities.write, args=[actor, action], start_to_close_timeout=LOCAL
                    )
                    for action in ACTIONS
                )
            )
        workflow.upsert_search_attributes([sa.STAGE.value_set("acted")])
        await workflow.execute_local_activity(
            "bench-skeleton-notify", actor, start_to_close_timeout=LOCAL, result_type=int
        )
        seen = len(self.findings)
        # the correlation window: a later finding would be handled here (none comes in the bench)
        with contextlib.suppress(asyncio.TimeoutError):
            await workflow.wait_condition(lambda: len(self.findings) > seen, timeout=quiet)


@workflow.defn(name="BenchSkeletonGovernor")
class Governor:
    def __init__(self) -> None:
        self.granted = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)  # for the round; its permits are the figure

    @workflow.update
    def acquire(self, count: int) -> bool:
        self.granted += count
        return True


@asynccontextmanager
async def worker(client: Client, stack: Stack, queue: str) -> AsyncIterator[None]:
    settings = stack.settings
    async with AkkuClient.from_settings(settings) as akku:
        floor = FloorActivities(akku, slack_client(settings), settings.slack_approval_channel)
        acts = SkeletonActivities(akku, floor, client, queue)
        async with Worker(
            client,
            task_queue=queue,
            workflows=[Alert, Person, Governor],
            activities=[acts.dispatch, acts.evaluate, acts.permit, acts.write, acts.notify],
        ):
            yield


async def saturated(
    client: Client,
    stack: Stack,
    queue: str,
    seconds: float,
    actor_ids: list[str],
    concurrency: int = 32,
    pids: dict[str, int] | None = None,
) -> tuple[float, dict[str, float]]:
    """Skeleton alerts, each about one of `actor_ids` (fresh people, as many as Riposte's figure
    takes), from `concurrency` loops that each start one and wait until both writes are applied
    in the Akku simulator (the same long poll as Riposte's figure): alerts per second and CPU per
    alert by process."""
    limits = httpx.Limits(max_connections=2 * concurrency + 8, max_keepalive_connections=2 * concurrency + 8)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        for actor in actor_ids:
            await driver.load_scenario(http, stack, "mfa_fatigue", actor_ids=[actor])
        governor = f"bench-skeleton-governor-{uuid.uuid4().hex[:8]}"
        await client.start_workflow(Governor.run, id=governor, task_queue=queue)
        pool = list(actor_ids)

        async def one(actor: str) -> None:
            await client.start_workflow(
                Alert.run, args=[actor, governor], id=f"bench-skeleton-alert-{uuid.uuid4()}", task_queue=queue
            )
            await applied_writes(http, stack, actor, len(ACTIONS))

        return await saturate_pool(one, pool, seconds, concurrency, pids)  # 3 warm-up alerts, as for the others


async def one_alert(client: Client, queue: str, actor: str, quiet: float) -> dict[str, Counts]:
    """One skeleton alert about `actor` with a `quiet` s correlation window, counted once its
    person run has closed: the alert run, the person run and the governor's share (a governor of
    its own, already past its first task when the alert comes: its start is not the alert's)."""
    governor = await client.start_workflow(
        Governor.run, id=f"bench-skeleton-governor-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    await governor.execute_update(Governor.acquire, 0)
    since = datetime.now(UTC)
    alert = await client.start_workflow(
        Alert.run, args=[actor, governor.id, quiet], id=f"bench-skeleton-alert-{uuid.uuid4()}", task_queue=queue
    )
    await alert.result()
    person = client.get_workflow_handle(f"bench-skeleton-person-{actor}")
    await person.result()
    until = datetime.now(UTC)
    counted = {
        "BenchSkeletonAlert": actions.count((await alert.fetch_history()).events),
        "BenchSkeletonPerson": actions.count((await person.fetch_history()).events),
        "BenchSkeletonGovernor (its share)": actions.count(
            (await governor.fetch_history()).events, since=since, until=until
        ),
    }
    await governor.terminate("counted")
    return counted
