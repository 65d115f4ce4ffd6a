"""The floor under the sustained figure: what the I/O of one acted-on alert costs by itself.

An MFA-fatigue alert that Riposte acts on reads the person from Akku (users batch and event
query), writes twice (MFA reset, password reset) and posts one Slack notice. The floor makes
exactly those calls, through the same clients and simulators, from a bare workflow of three
activities started directly (baseline.Floor): no gateway, no alert run, no correlation, no
scoring, no permit, no search attributes. Riposte's cost over the floor is its engine; the
floor's cost over the bare three-activity workflow is the alert's I/O.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench.baseline import Floor, saturate
from cli import driver
from cli.stack import Stack
from clients.akku.client import AkkuClient
from clients.slack import slack_client
from riposte.models.common import ActionKind

ACTIONS = (ActionKind.RESET_MFA, ActionKind.FORCE_PASSWORD_RESET)  # the mfa-fatigue playbook's


class FloorActivities:
    def __init__(self, akku: AkkuClient, slack: AsyncWebClient, channel: str) -> None:
        self._akku, self._slack, self._channel = akku, slack, channel

    @activity.defn(name="bench-floor-read")
    async def read(self, actor: str) -> int:
        until = datetime.now(UTC)
        _, events = await asyncio.gather(
            self._akku.users_many([actor]), self._akku.query_events_many([actor], until - timedelta(minutes=30), until)
        )
        return len(events.results)

    @activity.defn(name="bench-floor-write")
    async def write(self, actor: str) -> int:
        key = activity.info().workflow_id or "bench-floor"
        await asyncio.gather(
            *(
                self._akku.act(actor, action, reason="bench floor", reference=key, idempotency_key=f"{key}:{action}")
                for action in ACTIONS
            )
        )
        return len(ACTIONS)

    @activity.defn(name="bench-floor-notify")
    async def notify(self, actor: str) -> int:
        await self._slack.chat_postMessage(channel=self._channel, text=f"bench floor: acted on {actor}")
        return 1


@asynccontextmanager
async def worker(client: Client, stack: Stack, queue: str) -> AsyncIterator[None]:
    settings = stack.settings
    async with AkkuClient.from_settings(settings) as akku:
        acts = FloorActivities(akku, slack_client(settings), settings.slack_approval_channel)
        async with Worker(client, task_queue=queue, workflows=[Floor], activities=[acts.read, acts.write, acts.notify]):
            yield


def people(seconds: float) -> int:
    """How many fresh MFA-fatigue victims `saturated` takes for `seconds` (5 of them to warm up)."""
    return int(seconds * 40)


async def saturated(
    client: Client,
    stack: Stack,
    queue: str,
    seconds: float,
    concurrency: int = 32,
    pids: dict[str, int] | None = None,
    actor_ids: list[str] | None = None,
) -> tuple[float, dict[str, float]]:
    """Runs per second with `concurrency` starters, each run about a fresh MFA-fatigue victim
    (the simulator picks them, or `actor_ids`, `people(seconds)` of them), and the CPU per run
    by process."""
    async with httpx.AsyncClient(timeout=30) as http:
        chosen: list[str | None] = list(actor_ids) if actor_ids else [None] * people(seconds)
        actors = [
            (await driver.load_scenario(http, stack, "mfa_fatigue", **({"actor_ids": [a]} if a else {})))["actor_ids"][
                0
            ]
            for a in chosen
        ]
    for actor in actors[:5]:  # warm-up
        await client.execute_workflow(Floor.run, actor, id=f"bench-floor-warm-{uuid.uuid4()}", task_queue=queue)
    pool = actors[5:]

    async def run_one() -> bool:
        if not pool:
            return False
        await client.execute_workflow(Floor.run, pool.pop(), id=f"bench-floor-{uuid.uuid4()}", task_queue=queue)
        return True

    return await saturate(run_one, seconds, concurrency, pids)
