"""Helpers for the tests of an FYI a person may act on: a playbook whose alert lands in a notify
band with a stronger band above it, and the Slack simulator's messages, replies and clicks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from cli import driver
from cli.rig import playbooks_with
from cli.stack import Stack
from riposte.models.slack import ACTION_PREFIX

# dormant-account with its approve band out of reach: the dormant sign-in scores in the notify
# band, and the band above it (lock, revoke sessions) is what the FYI offers
APPROVE_BAND = (
    "  - {min_score: 30, response: approve, actions: [lock, revoke_sessions]}   # > 90 days alone lands here\n"
)
NOTIFY_BAND = "  - {min_score: 15, response: notify}\n"


def notify_playbooks(tmp_path: Path) -> Path:
    return playbooks_with(
        tmp_path,
        "dormant-account",
        APPROVE_BAND + NOTIFY_BAND,
        "  - {min_score: 99.9, response: approve, actions: [lock, revoke_sessions]}\n  - {min_score: 1, response: notify}\n",
    )


def _root(stack: Stack) -> str:
    assert stack.slack_url
    return stack.slack_url.rstrip("/")


async def messages(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        found: list[dict[str, Any]] = (await http.get(f"{_root(stack)}/_sim/messages")).json()["messages"]
    return found


async def replies(stack: Stack) -> list[str]:
    async with httpx.AsyncClient() as http:
        found = (await http.get(f"{_root(stack)}/_sim/replies")).json()["replies"]
    return [str(r.get("text", "")) for r in found]


async def click(stack: Stack, workflow_id: str, option_id: str, user_id: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(
            f"{_root(stack)}/_sim/click", json={"workflow_id": workflow_id, "option_id": option_id, "user_id": user_id}
        )


async def reply_saying(stack: Stack, text: str) -> str:
    for _ in range(100):
        found = [r for r in await replies(stack) if text in r]
        if found:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply saying {text!r}: {await replies(stack)}")


async def add_user(stack: Stack, user_id: str, email: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{_root(stack)}/_sim/users",
            json={"id": user_id, "name": user_id.lower(), "real_name": user_id, "email": email},
        )
    answer.raise_for_status()


def has_buttons(message: dict[str, Any]) -> bool:
    """Buttons that decide (an Undo on what a decision applied is not one)."""
    return any(
        str(e.get("action_id", "")).startswith(ACTION_PREFIX)
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )


def text_of(message: dict[str, Any]) -> str:
    return str(message["text"]) + json.dumps(message["blocks"])


async def akku_writes(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        found: list[dict[str, Any]] = (await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")).json()[
            "writes"
        ]
    return found
