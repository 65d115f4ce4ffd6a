"""Where `riposte dev` and `riposte demo` send the log lines of everything they run.

The worker, the gateway, the simulators, uvicorn and the Temporal SDK (its Rust core
included) all log through Python's `logging`; here the root logger writes to one file
under the state folder, so the terminal keeps the stack's own story. Errors still reach
the screen: `Problems` counts every ERROR record and keeps the latest, for a one-line
notice that points at the file. `--verbose` writes the same lines to the terminal too.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("httpx", "httpcore")  # httpx logs every URL at INFO, and Splunk's webhook URL carries its token


def log_path(state_dir: Path, command: str) -> Path:
    return state_dir / f"riposte-{command}.log"


class Problems(logging.Handler):
    """Every ERROR record from any component, summed up for a one-line notice on screen."""

    def __init__(self, path: Path) -> None:
        super().__init__(level=logging.ERROR)
        self.path = path
        self.count = 0
        self.first: str | None = None
        self.latest: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().strip().splitlines()
        except (TypeError, ValueError):  # arguments that do not fit the format: still an error seen
            message = [str(record.msg)]
        self.count += 1
        line = message[0] if message else record.levelname
        if line.startswith("Traceback"):  # the error's own line came first, or comes with exc_info
            line = "an exception"
        self.latest = f"{record.name}: {line}"
        self.first = self.first or self.latest

    def notice(self) -> str:
        """One line: how many errors, where the details are, the latest (cut first when too long)."""
        if not self.count:
            return ""
        many = f"{self.count} errors" if self.count > 1 else "an error"
        return f"{many} (details in {self.path}): {self.latest}"


class ConsoleLines(logging.Handler):
    """Log lines on the terminal (--verbose), printed above a live view rather than through it."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(Text(record.getMessage()), soft_wrap=True, highlight=False)
        except Exception:  # noqa: BLE001 - logging's contract: a handler reports, never raises
            self.handleError(record)


class ErrorLine(logging.Handler):
    """`riposte dev`: each error named in one line on the terminal, the details left in the file."""

    def __init__(self, problems: Problems, say: Callable[[str], None]) -> None:
        super().__init__(level=logging.ERROR)
        self.problems = problems
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "on_screen", False):  # named on the terminal already by who logged it
            self.say(self.problems.notice())


def log_to_file(
    path: Path,
    *,
    verbose: bool,
    console: Console,
    on_error: Callable[[str], None] | None = None,
) -> Problems:
    """Route every log line of this process to `path` (and, verbose, to `console` too).

    Lines reach the terminal through a queue and a thread of their own: a record may be
    logged inside a workflow's sandbox, where drawing on the terminal (rich imports lazily)
    must not happen.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(to_file)
    problems = Problems(path)
    root.addHandler(problems)
    to_screen: list[logging.Handler] = []
    if verbose:
        to_screen.append(ConsoleLines(console))
    if on_error is not None:
        to_screen.append(ErrorLine(problems, on_error))
    if to_screen:
        lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        to_queue = logging.handlers.QueueHandler(lines)
        to_queue.setFormatter(logging.Formatter(LOG_FORMAT))  # the queued record's message: the whole line
        root.addHandler(to_queue)
        listener = logging.handlers.QueueListener(lines, *to_screen, respect_handler_level=True)
        listener.start()
        atexit.register(listener.stop)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.captureWarnings(True)
    _forward_temporal_core(verbose)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    logging.getLogger("riposte.logs").info("log of this run, started %s", started)
    return problems


def _forward_temporal_core(verbose: bool) -> None:
    """The SDK's Rust core prints to stderr by itself: forward its lines into `logging` instead."""
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    level = "INFO" if verbose else "WARN"
    telemetry = TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level=level, other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
    )
    Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=False)
