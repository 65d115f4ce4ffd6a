"""The Akku and Slack simulators in a process of their own, started afresh for each bench round.

The simulators keep every scenario, event, write and message they were given, and their cost
grows with it: the floor's CPU per run moved from 123 to 80 ms between two runs. The bench
therefore takes the stack's simulators over (stops the in-process ones and serves fresh apps
on the same ports from a child process), and restarts that process between rounds, so each
round starts from empty simulators; being a process of their own, their CPU is measured apart
from the worker's. `python -m bench.sims` reads the configuration as JSON on stdin (it holds
the simulators' API key and Slack secrets, so it is never put on a command line).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn

from cli import driver
from cli.stack import EmbeddedServer, Stack

REPO = Path(__file__).resolve().parents[1]


def _port(url: str | None) -> int:
    port = urlsplit(url or "").port
    if port is None:
        raise RuntimeError(f"the bench needs the stack's local simulators (got {url!r})")
    return port


def _free(port: int) -> bool:
    with socket.socket() as sock:  # as the servers bind: a closed connection's TIME_WAIT does not count
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def _until_free(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not _free(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} still taken")
        await asyncio.sleep(0.05)


class Simulators:
    """The stack's Akku and Slack simulators, served by a child process that `restart` replaces."""

    def __init__(self, stack: Stack) -> None:
        from simulators.slack.server import config_from_settings

        settings = stack.settings
        self.akku_port, self.slack_port = _port(stack.akku_url), _port(stack.slack_url)
        self._stack = stack
        self._akku_key = settings.akku_api_key.get_secret_value()
        self._slack = config_from_settings(settings, interactivity_url=f"{stack.gateway_url}/slack/interactions")
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def take_over(self, staff: int) -> None:
        """Stop the stack's in-process simulators and serve fresh ones from a child process."""
        for server in self._stack.servers:
            if server.config.port in (self.akku_port, self.slack_port):
                server.should_exit = True
        await self.restart(staff)

    async def restart(self, staff: int) -> None:
        """Fresh simulators: empty write logs and message lists, a tenant of `staff` accounts."""
        await self.stop()
        await _until_free(self.akku_port)
        await _until_free(self.slack_port)
        spec = {
            "akku": {"port": self.akku_port, "config": {"api_key": self._akku_key, "staff": staff}},
            "slack": {"port": self.slack_port, "config": self._slack.model_dump(mode="json")},
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sims", cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(spec).encode())
        await process.stdin.drain()
        process.stdin.close()
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        if line.strip() != b"ready":
            raise RuntimeError(f"the simulators did not start (exit {process.returncode})")

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await asyncio.wait_for(self._process.wait(), 30)
        self._process = None


@asynccontextmanager
async def simulators(stack: Stack, staff: int) -> AsyncIterator[Simulators]:
    sims = Simulators(stack)
    await sims.take_over(staff)
    try:
        yield sims
    finally:
        await sims.stop()


async def serve(spec: dict[str, Any]) -> None:
    from simulators.akku.server import SimulatorConfig
    from simulators.akku.server import create_app as akku_app
    from simulators.slack.server import SlackSimConfig
    from simulators.slack.server import create_app as slack_app

    apps = [
        (akku_app(SimulatorConfig.model_validate(spec["akku"]["config"])), spec["akku"]["port"]),
        (slack_app(SlackSimConfig.model_validate(spec["slack"]["config"])), spec["slack"]["port"]),
    ]
    servers = [
        EmbeddedServer(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
        )
        for app, port in apps
    ]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # one handler stops both servers

        def stop() -> None:
            for server in servers:
                server.should_exit = True

        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            return
        await asyncio.sleep(0.02)
    print("ready", flush=True)
    await asyncio.gather(*tasks)


def main() -> int:
    asyncio.run(serve(json.loads(sys.stdin.read())))
    return 0


async def applied_writes(http: httpx.AsyncClient, stack: Stack, actor: str, count: int, timeout: float = 120) -> None:
    """Until `count` writes for `actor` are applied in the Akku simulator (a long poll on its log)."""
    deadline = time.monotonic() + timeout
    after, applied = 0, 0
    while time.monotonic() < deadline:
        answer = (
            await http.get(
                f"{driver.simulator_root(stack.akku_url)}/_sim/writes",
                params={"actor_id": actor, "after": after, "wait": min(10.0, max(0.0, deadline - time.monotonic()))},
            )
        ).json()
        applied += sum(1 for w in answer["writes"] if w["status"] == "applied")
        if applied >= count:
            return
        after = answer["next"]
    raise TimeoutError(f"{actor}: {applied} of {count} writes applied")


if __name__ == "__main__":
    sys.exit(main())
