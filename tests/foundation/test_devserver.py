"""The embedded dev server: persistent, attributes registered, and no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cli.devserver import DevServer, DevServerError
from riposte import search_attributes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


async def test_persistent_server_keeps_runs_and_attributes_across_restart(tmp_path: Path) -> None:
    server = DevServer(port=free_port(), ui_port=None, db_file=tmp_path / "temporal.db")
    async with server:
        client = await Client.connect(server.address)
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
        for key in search_attributes.ALL:
            assert key.name in listed.custom_attributes
        await client.start_workflow("Nobody", id="survivor", task_queue="nowhere")
    assert server.pid is None  # stopped
    async with server:
        client = await Client.connect(server.address)
        described = await client.get_workflow_handle("survivor").describe()
        assert described.workflow_type == "Nobody"


async def test_port_in_use_is_a_clear_error(temporal_env: WorkflowEnvironment) -> None:
    host, port = temporal_env.client.service_client.config.target_host.split(":")
    with pytest.raises(DevServerError, match="already listens"):
        await DevServer(ip=host, port=int(port), ui_port=None).start()


def test_killed_parent_takes_the_server_down(tmp_path: Path) -> None:
    """Even SIGKILL of the process that started it leaves no temporal process behind."""
    port = free_port()
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from cli.devserver import DevServer
        async def main():
            server = DevServer(port={port}, ui_port=None)
            await server.start()
            print(server.pid, flush=True)
            await asyncio.sleep(120)
        asyncio.run(main())
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    assert alive(server_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(server_pid)
