"""The gateway's Temporal connection: lazy, shared, re-established after a failure."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from riposte.settings import Settings
from riposte.temporal import make_client

CONNECT_TIMEOUT = 5.0


class TemporalUnavailable(Exception):
    """Temporal cannot be reached: the sender should retry (503 + Retry-After)."""


class TemporalConnection:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(make_client(self._settings), CONNECT_TIMEOUT)
                except (TimeoutError, RuntimeError, OSError) as exc:
                    raise TemporalUnavailable(f"cannot reach Temporal at {self._settings.target_host}") from exc
            return self._client

    async def ready(self) -> bool:
        try:
            client = await self.get()
            return await asyncio.wait_for(client.service_client.check_health(), CONNECT_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
