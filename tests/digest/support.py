"""Driving a wave through the whole stack and reading what Slack and Akku saw."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from cli import driver
from cli.stack import Stack
from riposte.models.digest import DIGEST_ACTION_PREFIX, DIGEST_STATUS, DigestStatus
from riposte.models.slack import UNDO_PREFIX


async def sim(http: httpx.AsyncClient, root: str | None, path: str) -> Any:
    assert root
    answer = await http.get(f"{root.rstrip('/')}{path}")
    answer.raise_for_status()
    return answer.json()


def first_version(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = message["updates"][0]["blocks"] if message["updates"] else message["blocks"]
    return blocks


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def approval_messages(http: httpx.AsyncClient, stack: Stack) -> list[dict[str, Any]]:
    """Top-level messages that asked for a decision (their first version had decision or digest
    buttons): per-person requests and digests. Notices of automatic actions (whose only buttons
    undo what was done) and replies in threads are not among them."""
    messages = (await sim(http, stack.slack_url, "/_sim/messages"))["messages"]
    return [
        m
        for m in messages
        if not m.get("thread_ts") and any(not a.startswith(UNDO_PREFIX) for a in buttons(first_version(m)))
    ]


def digests(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if any(a.startswith(DIGEST_ACTION_PREFIX) for a in buttons(first_version(m)))]


async def writes(http: httpx.AsyncClient, stack: Stack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await sim(http, driver.simulator_root(stack.akku_url), "/_sim/writes"))["writes"]
    return found


async def stages(client: Client, task_queue: str) -> dict[str, str]:
    found: dict[str, str] = {}
    query = f"WorkflowType = 'InvestigationWorkflow' AND TaskQueue = '{task_queue}'"
    async for execution in client.list_workflows(query):
        found[execution.id] = str((execution.search_attributes.get("RiposteStage") or ["?"])[0])
    return found


async def until_stages(client: Client, task_queue: str, want: dict[str, int], *, timeout: float) -> dict[str, str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        now = await stages(client, task_queue)
        counts = {s: list(now.values()).count(s) for s in set(now.values())}
        if all(counts.get(s, 0) >= n for s, n in want.items()):
            return now
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"stages {counts}, wanted {want}")
        await asyncio.sleep(0.3)


async def click_digest(
    http: httpx.AsyncClient, stack: Stack, message: dict[str, Any], choice: str, user_id: str
) -> httpx.Response:
    assert stack.slack_url
    return await http.post(
        f"{stack.slack_url.rstrip('/')}/_sim/click",
        json={
            "channel": message["channel"],
            "ts": message["ts"],
            "action_id": f"{DIGEST_ACTION_PREFIX}{choice}",
            "user_id": user_id,
        },
    )


async def digest_status(client: Client, digest_id: str) -> DigestStatus:
    """The digest's status; a worker busy with a storm may answer a query late: ask again."""
    for _ in range(10):
        try:
            status: DigestStatus = await client.get_workflow_handle(digest_id).query(
                DIGEST_STATUS, result_type=DigestStatus
            )
            return status
        except RPCError:
            await asyncio.sleep(0.5)
    raise AssertionError(f"{digest_id} did not answer its status query")


async def digest_ids(client: Client, task_queue: str) -> list[str]:
    query = f"WorkflowType = 'DigestWorkflow' AND TaskQueue = '{task_queue}'"
    return [e.id async for e in client.list_workflows(query)]
