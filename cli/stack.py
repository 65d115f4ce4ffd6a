"""The embedded stack behind `riposte dev` and `riposte demo`, in one process tree.

Temporal dev server (a child process, unless TEMPORAL_ADDRESS points elsewhere), the
Akku and Slack simulators (unless AKKU_BASE_URL / SLACK_API_URL point elsewhere), the
webhook gateway and the worker (in this process). Ctrl-C or SIGTERM stops all of it,
in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from cli.devserver import DevServer
from riposte.settings import Settings
from riposte.temporal import make_client

log = logging.getLogger("riposte.stack")

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class StackOptions:
    temporal_port: int = 7233
    ui_port: int = 8233
    state_dir: Path | None = None
    quiet: bool = False  # the demo draws its own screen
    worker: bool = True  # False: run workers elsewhere (`riposte worker`), e.g. to kill and restart them
    akku_staff: int = 200  # accounts in the local Akku simulator's synthetic tenant
    akku_heartbeat_seconds: float = 15.0  # the local Akku simulator's stream heartbeat (tests: shorter)
    log_file: Path | None = None  # where the components' log lines go (printed in the banner)


def detect_by_default(settings: Settings) -> Settings:
    """`riposte dev` and `demo` detect from Akku's stream unless RIPOSTE_DETECT says otherwise."""
    if "riposte_detect" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"riposte_detect": "stream"})


@dataclass
class Stack:
    """What is running, for callers (the demo) that drive it."""

    settings: Settings
    client: Client
    gateway_url: str
    akku_url: str | None
    slack_url: str | None
    ui_url: str | None
    servers: list[uvicorn.Server] = field(default_factory=list)


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside the stack: the stack owns SIGINT/SIGTERM and stops servers in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _local_port(url: str) -> int | None:
    """The port of a URL on this machine (None for a remote URL: nothing to start)."""
    parts = urlsplit(url)
    if parts.hostname in LOCAL_HOSTS and parts.port:
        return parts.port
    return None


async def _serve(app: FastAPI, host: str, port: int, servers: list[uvicorn.Server]) -> asyncio.Task[None]:
    # an open Akku event stream never ends by itself: stopping waits for it at most this long
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # uvicorn's lines go wherever the process's logging goes (the log file)
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    server = EmbeddedServer(config)
    servers.append(server)
    task = asyncio.create_task(server.serve(), name=f"http:{port}")
    while not server.started:
        if task.done():
            task.result()  # raises the bind error
            raise RuntimeError(f"server on {host}:{port} stopped during start-up")
        await asyncio.sleep(0.02)
    return task


@contextlib.asynccontextmanager
async def embedded_stack(settings: Settings, options: StackOptions) -> AsyncIterator[Stack]:
    from gateway.app import create_app as gateway_app
    from gateway.codec import mount_codec
    from gateway.slack_interactions import build_slack_router
    from worker import running_worker

    settings = settings.with_generated_secrets()
    state = options.state_dir or settings.riposte_state_dir
    server: DevServer | None = None
    servers: list[uvicorn.Server] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        target = settings.target_host
        ui_url = settings.ui_url
        if settings.embedded:
            server = DevServer(
                port=options.temporal_port,
                ui_port=options.ui_port,
                db_file=state / "temporal.db",
                log_file=state / "temporal.log",
            )
            await server.start()
            target, ui_url = server.address, server.ui_url
            settings = settings.model_copy(update={"temporal_ui_url": ui_url})
        client = await make_client(settings, target_host=target)
        gateway_url = f"http://{settings.riposte_http_host}:{settings.riposte_http_port}"

        akku_port = _local_port(settings.akku_base_url)
        if akku_port:
            from simulators.akku.server import SimulatorConfig
            from simulators.akku.server import create_app as akku_app

            akku_config = SimulatorConfig(
                api_key=settings.akku_api_key.get_secret_value(),
                staff=options.akku_staff,
                heartbeat_seconds=options.akku_heartbeat_seconds,
            )
            tasks.append(await _serve(akku_app(akku_config), "127.0.0.1", akku_port, servers))
        slack_port = _local_port(settings.slack_api_url)
        if slack_port:
            from simulators.slack.server import config_from_settings
            from simulators.slack.server import create_app as slack_app

            slack_config = config_from_settings(settings, interactivity_url=f"{gateway_url}/slack/interactions")
            tasks.append(await _serve(slack_app(slack_config), "127.0.0.1", slack_port, servers))

        async def get_client() -> Client:
            return client

        router = build_slack_router(settings, get_client)
        gateway = gateway_app(settings, client=client, extra_routers=[router])
        mount_codec(gateway, settings)  # only with payload encryption on
        tasks.append(await _serve(gateway, settings.riposte_http_host, settings.riposte_http_port, servers))

        async with contextlib.AsyncExitStack() as exits:
            if options.worker:
                await exits.enter_async_context(running_worker(settings, client))
            stack = Stack(
                settings=settings,
                client=client,
                gateway_url=gateway_url,
                akku_url=f"http://127.0.0.1:{akku_port}/api" if akku_port else None,
                slack_url=f"http://127.0.0.1:{slack_port}/" if slack_port else None,
                ui_url=ui_url,
                servers=servers,
            )
            yield stack
    finally:
        for http in reversed(servers):
            http.should_exit = True
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        if server is not None:
            server.stop()


def print_banner(stack: Stack, console: Console, log_file: Path | None = None) -> None:
    settings = stack.settings
    table = Table(title="Riposte is running", show_header=False, title_justify="left")
    table.add_row("Temporal UI", stack.ui_url or "(remote cluster)")
    table.add_row(
        "Temporal", settings.target_host if not settings.embedded else stack.client.service_client.config.target_host
    )
    table.add_row("Webhook gateway", stack.gateway_url)
    table.add_row("  Splunk", f"{stack.gateway_url}/webhooks/splunk?token=<token>")
    table.add_row(
        "  Sentinel, Elastic, generic", f"{stack.gateway_url}/webhooks/<source>  (Authorization: Bearer <token>)"
    )
    if settings.riposte_webhook_token:
        table.add_row("RIPOSTE_WEBHOOK_TOKEN", settings.riposte_webhook_token.get_secret_value())
    for secret in settings.riposte_webhook_secret:
        table.add_row("RIPOSTE_WEBHOOK_SECRET", secret.get_secret_value())
    if settings.riposte_operator_token is not None:  # for `riposte approve` / `deny` from another shell
        table.add_row("RIPOSTE_OPERATOR_TOKEN", settings.riposte_operator_token.get_secret_value())
    table.add_row("Akku", stack.akku_url or settings.akku_base_url)
    table.add_row(
        "Slack", (stack.slack_url + "  (open it to click Approve/Deny)") if stack.slack_url else settings.slack_api_url
    )
    table.add_row("Task queue", settings.temporal_task_queue)
    table.add_row("Detection from Akku", f"{settings.riposte_detect}  (`riposte detect status`)")
    if log_file is not None:
        table.add_row("Logs", str(log_file))
    console.print(table)
    console.print("Ctrl-C stops everything.")


async def run_stack(settings: Settings, options: StackOptions, console: Console | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console = console or Console()
    async with embedded_stack(detect_by_default(settings), options) as stack:
        print_banner(stack, console, options.log_file)
        await stop.wait()
        console.print("stopping ...")
    console.print("stopped." + (f" Logs: {options.log_file}" if options.log_file else ""))
