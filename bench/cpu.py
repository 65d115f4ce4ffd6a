"""CPU time per process while a figure is taken: what each alert costs, and where.

On a shared two-core machine throughput is bounded by CPU, so CPU per alert (the benchmark's
own Python process, which holds the worker, gateway and simulators in the embedded stack, plus
the Temporal dev server) explains a throughput ratio better than the ratio alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def dev_server_pid() -> int | None:
    """The embedded Temporal dev server: a descendant of this process running `server start-dev`."""
    pending, seen = _children(os.getpid()), set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"start-dev" in argv:
            return pid
        pending += _children(pid)
    return None


@dataclass
class CpuMeter:
    """CPU seconds of named processes between `start()` and `stop()`."""

    pids: dict[str, int]
    started: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    @classmethod
    def for_bench(cls, **extra: int) -> CpuMeter:
        pids = {"python": os.getpid(), **extra}
        server = dev_server_pid()
        if server is not None:  # with TEMPORAL_ADDRESS the server is elsewhere: not measured
            pids["server"] = server
        return cls(pids)

    def start(self) -> CpuMeter:
        self.started = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return self

    def stop(self) -> CpuMeter:
        self.used = {name: cpu_seconds(pid) - self.started[name] for name, pid in self.pids.items()}
        return self

    def per_item(self, items: int) -> dict[str, float]:
        """Milliseconds of CPU per item, by process."""
        return {name: 1000 * seconds / max(items, 1) for name, seconds in self.used.items()}


def describe(per_item: dict[str, float]) -> str:
    total = sum(per_item.values())
    parts = " + ".join(f"{name} {value:.0f}" for name, value in per_item.items())
    return f"{total:.0f} ms ({parts})"
