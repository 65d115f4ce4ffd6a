"""Sliding windows per key, bounded: what the rules count, and never more than they need.

A `Window` keeps (timestamp, actor, source IP) for the events of one key within its span
(relative to the newest event it has seen), at most `cap` of them, with a count per actor
so that "distinct accounts" is O(1). `Keyed` holds a window per key, at most `max_keys`,
the least recently touched evicted first. `Recent` is a bounded map (last sign-in, last
seen) with the same eviction. Memory is therefore at most max_keys x cap entries per rule.
"""

from __future__ import annotations

import bisect
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from typing import Generic, TypeVar

Entry = tuple[float, str, str]  # (epoch seconds, actor id, source IP or "")
V = TypeVar("V")


class Window:
    __slots__ = ("actors", "entries", "newest")

    def __init__(self) -> None:
        self.entries: deque[Entry] = deque()
        self.actors: Counter[str] = Counter()
        self.newest = float("-inf")

    def add(self, at: float, actor: str, ip: str, span: float, cap: int) -> bool:
        """Count an event; False when it is older than the window (too late to count)."""
        if at < self.newest - span:
            return False
        entry = (at, actor, ip)
        if not self.entries or at >= self.entries[-1][0]:
            self.entries.append(entry)
        else:  # a late event: keep the window in time order
            self.entries.insert(bisect.bisect_right(self.entries, at, key=lambda e: e[0]), entry)
        self.actors[actor] += 1
        self.newest = max(self.newest, at)
        horizon = self.newest - span
        while self.entries and (self.entries[0][0] < horizon or len(self.entries) > cap):
            self._drop()
        return True

    def _drop(self) -> None:
        _, actor, _ = self.entries.popleft()
        left = self.actors[actor] - 1
        if left:
            self.actors[actor] = left
        else:
            del self.actors[actor]

    def clear(self) -> None:
        self.entries.clear()
        self.actors.clear()

    @property
    def count(self) -> int:
        return len(self.entries)

    @property
    def distinct(self) -> int:
        return len(self.actors)

    @property
    def oldest(self) -> float | None:
        return self.entries[0][0] if self.entries else None

    def ips(self, limit: int) -> list[str]:
        seen: dict[str, None] = {}
        for _, _, ip in reversed(self.entries):
            if ip and ip not in seen:
                seen[ip] = None
                if len(seen) >= limit:
                    break
        return sorted(seen)

    def accounts(self, limit: int) -> list[str]:
        return sorted(self.actors)[:limit]


class Recent(Generic[V]):
    """A bounded map, least recently written evicted first."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.items: OrderedDict[str, V] = OrderedDict()
        self.evicted = 0

    def get(self, key: str) -> V | None:
        return self.items.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def put(self, key: str, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.max_keys:
            self.items.popitem(last=False)
            self.evicted += 1

    def pop(self, key: str) -> V | None:
        return self.items.pop(key, None)

    def __len__(self) -> int:
        return len(self.items)


class Keyed:
    """A window per key (an IP, an account, or "all"), at most `max_keys` of them."""

    def __init__(self, span: float, cap: int, max_keys: int) -> None:
        self.span, self.cap = span, cap
        self.windows: Recent[Window] = Recent(max_keys)

    def add(self, key: str, at: float, actor: str, ip: str) -> Window | None:
        """The key's window with the event counted, or None when the event came too late for it."""
        window = self.windows.get(key)
        if window is None:
            window = Window()
        self.windows.put(key, window)
        return window if window.add(at, actor, ip, self.span, self.cap) else None

    def clear(self, key: str) -> None:
        window = self.windows.get(key)
        if window is not None:
            window.clear()

    def expire(self, now: float) -> None:
        """Forget keys whose newest event has left the window (oldest touched first)."""
        items = self.windows.items
        while items:
            key, window = next(iter(items.items()))
            if window.newest >= now - self.span and window.entries:
                break
            del items[key]

    def oldest(self) -> float | None:
        found = [w.oldest for w in self.windows.items.values() if w.oldest is not None]
        return min(found) if found else None

    def __iter__(self) -> Iterator[Window]:
        return iter(self.windows.items.values())

    def __len__(self) -> int:
        return len(self.windows)
