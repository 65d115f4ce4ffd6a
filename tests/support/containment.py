"""Helpers for the undo and contain_for tests: a playbook that locks, the Akku user's status, the
Slack messages and the simulator's signed clicks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from cli import driver
from cli.rig import playbooks_with
from cli.stack import Stack
from riposte.models.slack import UNDO_PREFIX

MFA_ACT = "  - {min_score: 45, response: act, actions: [reset_mfa, force_password_reset]}\n"
LOCKING = "  - {min_score: 45, response: act, actions: [lock, revoke_sessions]}\n"


def locking_playbooks(tmp_path: Path, contain_for: str | None = None) -> Path:
    """mfa-fatigue that locks (and revokes sessions) automatically; optionally time-boxed."""
    folder = playbooks_with(tmp_path, "mfa-fatigue", MFA_ACT, LOCKING)
    if contain_for:
        path = folder / "mfa-fatigue.yaml"
        path.write_text(path.read_text() + f"contain_for: {contain_for}\n")
    return folder


async def akku_user(stack: Stack, actor: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/users/{actor}")
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


async def akku_writes(stack: Stack, actor: str) -> list[tuple[str, str]]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")
    return [(w["action"], w["status"]) for w in answer.json()["writes"] if w["actor_id"] == actor]


async def messages(stack: Stack) -> list[dict[str, Any]]:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        found: list[dict[str, Any]] = (await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")).json()[
            "messages"
        ]
    return found


async def message_about(stack: Stack, actor: str, text: str) -> dict[str, Any]:
    """The message about `actor` whose text or blocks contain `text` (waits for it)."""
    for _ in range(200):
        for message in await messages(stack):
            shown = str(message["text"]) + str(message["blocks"])
            if actor in shown and text in shown:
                return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message about {actor} saying {text!r}: {await messages(stack)}")


async def click(stack: Stack, workflow_id: str, option: str, user: str, **extra: Any) -> httpx.Response:
    """A signed click through the Slack simulator on the run's button `option` (undo, keep, ...)."""
    assert stack.slack_url
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{stack.slack_url.rstrip('/')}/_sim/click",
            json={"workflow_id": workflow_id, "option_id": option, "user_id": user, **extra},
        )


async def replies(stack: Stack) -> list[str]:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{stack.slack_url.rstrip('/')}/_sim/replies")
    return [r["text"] for r in answer.json()["replies"]]


async def reply_saying(stack: Stack, text: str, after: int = 0) -> str:
    """The first reply (from the `after`-th on) that contains `text`."""
    for _ in range(200):
        found = [r for r in (await replies(stack))[after:] if text in r]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply saying {text!r}: {await replies(stack)}")


def has_button(message: dict[str, Any], option: str) -> bool:
    """Whether the message offers the Undo (`undo`) or Keep locked (`keep`) button."""
    return any(
        e.get("action_id") == f"{UNDO_PREFIX}{option}"
        for b in message["blocks"]
        for e in b.get("elements") or []
        if isinstance(e, dict)
    )
