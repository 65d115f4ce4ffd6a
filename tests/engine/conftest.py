"""The `stack` fixture: the whole engine on real parts for one test (see cli/rig.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from cli.rig import running_stack
from cli.stack import Stack


@pytest.fixture
async def stack(client: Client, task_queue: str) -> AsyncIterator[Stack]:
    async with running_stack(client, task_queue) as running:
        yield running
