"""Latency samples and the results table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Sample:
    name: str
    seconds: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.seconds.append(value)

    def pct(self, q: float) -> float:
        if not self.seconds:
            return float("nan")
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p99(self) -> float:
        return self.pct(99)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.seconds) if self.seconds else float("nan")


@dataclass
class Row:
    figure: str
    riposte: str
    baseline: str
    ratio: str
    target: str
    verdict: str  # PASS | MISS | info


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@dataclass
class Spread:
    """One figure over interleaved rounds: its median and its range."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values, default=float("nan"))

    @property
    def high(self) -> float:
        return max(self.values, default=float("nan"))

    def show(self, spec: str = ".1f", unit: str = "") -> str:
        """'12.3/s (11.0-13.1)': the median, then the lowest and highest round."""
        return f"{self.median:{spec}}{unit} ({self.low:{spec}}-{self.high:{spec}})"
