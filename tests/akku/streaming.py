"""Reading the Akku simulator's event stream line by line over real HTTP (faults and all)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx

from clients.akku import adapter as api

KEY = "akku-test-key-7f3a"
AUTH = {"Authorization": f"Bearer {KEY}"}
END = "<end of stream>"


class Stream:
    """The lines of one stream connection as they arrive; `END` when the server ends it,
    the transport error when the connection breaks."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.queue: asyncio.Queue[str | Exception] = asyncio.Queue()

    async def pump(self) -> None:
        try:
            async for line in self.response.aiter_lines():
                if line.strip():
                    await self.queue.put(line)
            await self.queue.put(END)
        except httpx.HTTPError as exc:
            await self.queue.put(exc)

    async def line(self, timeout: float = 5.0) -> str | Exception:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def event(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next event line, skipping heartbeats, within `timeout` in all."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            line = await self.line(max(deadline - asyncio.get_running_loop().time(), 0))
            assert isinstance(line, str) and line != END, line
            data: dict[str, Any] = json.loads(line)
            if api.HEARTBEAT not in data:
                return data

    async def rest(self, timeout: float = 5.0) -> list[str | Exception]:
        """Every line up to the end of the stream (or the break)."""
        found: list[str | Exception] = []
        while not found or (found[-1] != END and not isinstance(found[-1], Exception)):
            found.append(await self.line(timeout))
        return found


@contextlib.asynccontextmanager
async def streaming(base: str, since: datetime | str, event_types: tuple[str, ...] = ()) -> AsyncIterator[Stream]:
    start = since if isinstance(since, str) else api.timestamp(since)
    params = httpx.QueryParams([("since", start), *(("event_type", t) for t in event_types)])
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as http,
        http.stream("GET", f"{base}/api{api.AUTH_EVENTS_STREAM}", params=params, headers=AUTH) as response,
    ):
        stream = Stream(response)
        task = asyncio.create_task(stream.pump())
        try:
            yield stream
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def sim(base: str, method: str, path: str, body: object = None, **params: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.request(method, f"{base}{path}", json=body, params=params or None)
    assert answer.status_code < 300, answer.text
    return answer.json()


async def write(base: str, *events: dict[str, Any]) -> list[str]:
    ids: list[str] = (await sim(base, "POST", "/_sim/events", {"events": list(events)}))["event_ids"]
    return ids
