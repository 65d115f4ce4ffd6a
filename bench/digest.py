"""A wave past the automatic-action limit, as an analyst meets it in Slack (workflows/digest.py).

    figures = await digest_figures(client, people=500)     # from bench/__main__.py
    python -m bench.digest [--people N]                    # on its own (an embedded dev server)

On a stack of its own with the shipped playbooks (the limit at its default, 25 an hour), one
credential-stuffing alert names `people` accounts: 25 are acted on automatically and the rest
wait for a person. Measured: the top-level Slack messages the wave posts (one digest and the
first requests of the window, instead of one per person), and the time from one Approve all
click on the digest to the last of its Akku writes. The notices of the automatic actions (at most
the limit) are counted apart. Its baseline, in the same run: the wave's
own automatic actions, from the alert to the 25th person's writes, per person.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from temporalio.client import Client

from cli import driver
from cli.rig import running_stack
from cli.stack import Stack
from riposte.models.digest import DIGEST_ACTION_PREFIX
from riposte.models.slack import ACTION_PREFIX

LIMIT = 25  # the shipped playbooks' auto_action_limit
ACTIONS_PER_PERSON = 2  # credential stuffing: lock and revoke sessions


async def _count(client: Client, queue: str, stage: str) -> int:
    query = f"TaskQueue = '{queue}' AND WorkflowType = 'InvestigationWorkflow' AND RiposteStage = '{stage}'"
    return (await client.count_workflows(query)).count


async def _applied(http: httpx.AsyncClient, stack: Stack) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()[
        "writes"
    ]
    return [w for w in writes if w["status"] == "applied"]


async def _messages(http: httpx.AsyncClient, stack: Stack) -> list[dict[str, Any]]:
    assert stack.slack_url
    found: list[dict[str, Any]] = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")).json()["messages"]
    return found


def _first_buttons(message: dict[str, Any]) -> list[str]:
    """The action ids of a message as first posted (updates may have removed its buttons)."""
    blocks = message["updates"][0]["blocks"] if message.get("updates") else message.get("blocks") or []
    return [str(e.get("action_id", "")) for b in blocks if b.get("type") == "actions" for e in b.get("elements") or []]


def _asks(message: dict[str, Any]) -> bool:
    """A request for a decision or a digest (a notice's only buttons undo what was done)."""
    return any(a.startswith((ACTION_PREFIX, DIGEST_ACTION_PREFIX)) for a in _first_buttons(message))


def _is_digest(message: dict[str, Any]) -> bool:
    return any(
        str(e.get("action_id", "")).startswith(DIGEST_ACTION_PREFIX)
        for b in message.get("blocks") or []
        if b.get("type") == "actions"
        for e in b.get("elements") or []
    )


async def _until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen in {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def wave(stack: Stack, people: list[str]) -> dict[str, Any]:
    queue, client = stack.settings.temporal_task_queue, stack.client
    asked = len(people) - LIMIT
    async with httpx.AsyncClient(timeout=60) as http:
        facts = await driver.load_scenario(http, stack, "credential_stuffing", actor_ids=people)
        sent = time.monotonic()
        answer = await driver.deliver(http, stack, "generic", facts, alert_id=f"wave-{uuid.uuid4()}")
        assert answer.status_code == 202, answer.text

        async def automatic_done() -> bool:
            return len(await _applied(http, stack)) >= LIMIT * ACTIONS_PER_PERSON

        await _until(automatic_done, 600, f"the first {LIMIT} automatic actions")
        automatic = time.monotonic() - sent

        async def all_waiting() -> bool:
            return await _count(client, queue, "waiting_for_approval") >= asked

        await _until(all_waiting, 900, f"{asked} requests waiting")
        waiting = time.monotonic() - sent

        async def digest_current() -> bool:  # the digest's message catches up (one update every few seconds)
            return any(_is_digest(m) and f"{asked} people waiting" in m["text"] for m in await _messages(http, stack))

        await _until(digest_current, 120, "the digest showing the whole wave")
        messages = await _messages(http, stack)
        top_level = [m for m in messages if not m.get("thread_ts")]
        asking = [m for m in top_level if _asks(m)]
        digest = next(m for m in top_level if _is_digest(m))
        before = len(await _applied(http, stack))
        clicked = time.monotonic()
        answer = await http.post(
            f"{(stack.slack_url or '').rstrip('/')}/_sim/click",
            json={
                "channel": digest["channel"],
                "ts": digest["ts"],
                "action_id": f"{DIGEST_ACTION_PREFIX}approve",
                "user_id": stack.settings.slack_approver_ids[0],
            },
        )
        assert answer.status_code == 200, answer.text

        async def all_written() -> bool:
            return len(await _applied(http, stack)) >= before + asked * ACTIONS_PER_PERSON

        await _until(all_written, 900, f"the writes for {asked} approved people")
        last_write = time.monotonic() - clicked
        applied = await _applied(http, stack)
    per_key = {(w["actor_id"], w["action"]) for w in applied}
    return {
        "people": len(people),
        "asked": asked,
        "top_level_messages": len(asking),  # asking for a decision
        "notices": len(top_level) - len(asking),  # of the automatic actions
        "digests": sum(1 for m in top_level if _is_digest(m)),
        "automatic_s": automatic,
        "all_waiting_s": waiting,
        "click_to_last_write_s": last_write,
        "writes": len(applied),
        "each_once": len(per_key) == len(applied),
    }


async def digest_figures(client: Client, *, people: int = 500, first: int = 0) -> dict[str, Any]:
    """`first`: the wave's people are u_{10001 + first} on, whom no earlier figure's investigation
    (still open, on another queue: investigation ids are the namespace's) has seen."""
    queue = f"bench-digest-{uuid.uuid4().hex[:8]}"
    named = [f"u_{10001 + first + n}" for n in range(people)]
    async with running_stack(client, queue, akku_staff=first + people + 200) as stack:
        return await wave(stack, named)


async def _main(people: int) -> dict[str, Any]:
    from cli.rig import start_dev_server

    env = await start_dev_server()
    try:
        return await digest_figures(env.client, people=people)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_main(args.people)), indent=2))
