"""The `riposte` command's shared pieces: the typer app, consoles, settings and running coroutines."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from cli.detect import app as detect_app
from riposte.settings import Settings, SettingsError, load_settings

T = TypeVar("T")

app = typer.Typer(
    name="riposte",
    help=(
        "Riposte: a SOAR playbook engine for identity attacks, on Temporal.\n\n"
        "SIEM alerts come in through the webhook gateway, durable workflows enrich the flagged "
        "accounts in Akku, score them with explainable factors, and lock, reset or escalate to a "
        "person in Slack. Start with `riposte dev` (everything on this machine) or `riposte demo`."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
simulate = typer.Typer(help="Run a local simulator of an outside system (no tenant needed).", no_args_is_help=True)
app.add_typer(simulate, name="simulate")
app.add_typer(detect_app, name="detect")

console = Console()
err = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


async def _connect(settings: Settings) -> Any:
    from riposte.temporal import make_client

    return await make_client(settings)


async def _with_client(settings: Settings, call: Any) -> Any:
    return await call(await _connect(settings), settings)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every URL at INFO, and Splunk's webhook URL carries its token: keep them quiet
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]


# --- the stack ---------------------------------------------------------------------------
