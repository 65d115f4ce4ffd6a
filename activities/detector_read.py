"""Reading Akku's events for the detector: the NDJSON stream, or pages of the polling API.

Stream mode follows `/auth-events/stream` and reconnects with backoff; while the stream is
unavailable (refused, 404/5xx, a dropped connection, no line for three heartbeats) it polls
instead, at most once per poll interval, and tries the stream again. Poll mode only polls.
Every read starts a little before the position (the lateness allowance); the caller skips the
events it has already seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from clients.akku.client import AkkuClient
from clients.akku.errors import AkkuError
from clients.akku.models import AuthEvent
from clients.akku.records import Heartbeat, Malformed, event_records, stream_records
from detect.models import Mode

log = logging.getLogger("riposte.detector")

Item = AuthEvent | Heartbeat | Malformed
BACKOFF_CAP = 10.0


class Reader:
    def __init__(
        self,
        akku: AkkuClient,
        put: Callable[[Item], Awaitable[None]],
        since: Callable[[], datetime],
        *,
        mode: str,
        poll_seconds: float,
    ) -> None:
        self._akku, self._put, self._since = akku, put, since
        self.poll_seconds = poll_seconds
        self.mode: Mode = "poll" if mode == "poll" else "stream"
        self.reconnects = 0
        self.fallbacks = 0

    async def run(self) -> None:
        if self.mode == "poll":
            while True:
                await self._poll_once()
                await asyncio.sleep(self.poll_seconds)
        failures = 0
        polled = float("-inf")
        loop = asyncio.get_running_loop()
        while True:
            try:
                async for item in stream_records(self._akku, self._since()):
                    if failures:
                        log.info("stream back after %d failures", failures)
                        failures = 0
                        self.mode = "stream"
                    await self._put(item)
                log.info("stream closed by Akku; reconnecting")
            except AkkuError as exc:
                failures += 1
                log.warning("stream unavailable (%s, %s); polling meanwhile", type(exc).__name__, exc.status)
            self.reconnects += 1
            if failures:
                if self.mode == "stream":
                    self.fallbacks += 1
                self.mode = "poll-fallback"
                if loop.time() - polled >= self.poll_seconds:  # poll at most once per interval meanwhile
                    polled = loop.time()
                    await self._poll_once()
                await asyncio.sleep(min(2 ** (failures - 1) * 0.5, BACKOFF_CAP))
            else:
                await asyncio.sleep(0.2)

    async def _poll_once(self) -> None:
        try:
            async for event in event_records(self._akku, self._since()):
                await self._put(event)
        except AkkuError as exc:
            log.warning(
                "polling Akku failed (%s, %s); next try in %.0f s", type(exc).__name__, exc.status, self.poll_seconds
            )
