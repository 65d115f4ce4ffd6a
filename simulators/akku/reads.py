"""The reads log: which event ids each consumer read returned, the judge of "no event skipped".

A read is one stream connection or one page of polling. The log keeps counts for all time,
the last `keep` reads with their event ids (at most `ids_per_read` each), and two bitmaps over
event id numbers (the ten digits that end every id, in write order): written, and returned by
at least one read. The bitmaps cover the newest `window` ids (two bits an id: 16 MiB at the
default 2^26), so the memory is bounded however long the simulator runs.
"""

from __future__ import annotations

from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

from clients.akku import adapter as api

ID_WINDOW = 1 << 26  # ids the written/returned bitmaps cover (67 million)
KEEP_READS = 200
IDS_PER_READ = 1_000  # a full poll page; 200 reads of 1,000 ids: about 15 MB at most
CHUNK = 4096  # bytes scanned at a time when listing missing ids


def id_number(event_id: str) -> int | None:
    """The write-order number every simulator id ends with (`evt_07` + `0000001234`)."""
    digits = event_id[-10:]
    return int(digits) if len(digits) == 10 and digits.isdigit() else None


class Read:
    """One consumer read; a stream's grows while the connection lasts."""

    def __init__(self, number: int, kind: str, params: dict[str, Any], ids_per_read: int) -> None:
        self.entry: dict[str, Any] = {
            "read": number,
            "kind": kind,
            "at": api.timestamp(datetime.now(UTC)),
            "params": params,
            "open": kind == "stream",
            "events": 0,
            "event_ids": [],
            "ids_truncated": False,
            "ended": None,
        }
        self._limit = ids_per_read

    def add(self, event_id: str) -> None:
        self.entry["events"] += 1
        ids: list[str] = self.entry["event_ids"]
        if len(ids) < self._limit:
            ids.append(event_id)
        else:
            self.entry["ids_truncated"] = True

    def close(self, reason: str) -> None:
        self.entry["open"], self.entry["ended"] = False, reason


class ReadsLog:
    def __init__(self, keep: int = KEEP_READS, ids_per_read: int = IDS_PER_READ, window: int = ID_WINDOW) -> None:
        self.reads: deque[Read] = deque(maxlen=keep)
        self.counts: Counter[str] = Counter()  # reads by kind, all time
        self.events_returned = 0  # event ids returned, counting repeats
        self._ids_per_read, self._window = ids_per_read, window
        self._base = 0  # id number of bit 0
        self._written = bytearray()
        self._returned = bytearray()
        self.written_count = 0
        self.last_written: str | None = None

    # --- the write and read paths ---------------------------------------------------------

    def written(self, event_id: str) -> None:
        number = id_number(event_id)
        if number is not None:
            self._set(self._written, number)
        self.written_count += 1
        self.last_written = event_id

    def open(self, kind: str, params: dict[str, Any]) -> Read:
        self.counts[kind] += 1
        read = Read(sum(self.counts.values()), kind, params, self._ids_per_read)
        self.reads.append(read)
        return read

    def returned(self, read: Read, event_id: str) -> None:
        read.add(event_id)
        self.events_returned += 1
        number = id_number(event_id)
        if number is not None:
            self._set(self._returned, number)

    # --- the judge ------------------------------------------------------------------------

    def summary(self, limit: int) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "events_returned": self.events_returned,
            "written": {"count": self.written_count, "last_event_id": self.last_written},
            "window_starts_at": self._base,
            "reads": [r.entry for r in list(self.reads)[-limit:]] if limit else [],
        }

    def missing(self, since_event: str | None, limit: int) -> tuple[list[int], int]:
        """Id numbers written at or after `since_event` that no read returned: the first `limit`, and how many."""
        start = self._base
        if since_event is not None:
            number = id_number(since_event)
            if number is None:
                raise ValueError(f"{since_event!r} is not an event id of this simulator")
            if number < self._base:
                raise ValueError(f"{since_event} is older than the reads window (ids from number {self._base})")
            start = number
        found: list[int] = []
        total = 0
        offset = start - self._base
        first_byte = offset >> 3
        for at in range(first_byte, len(self._written), CHUNK):
            written = int.from_bytes(self._written[at : at + CHUNK], "little")
            returned = int.from_bytes(self._returned[at : at + CHUNK], "little")
            gap = written & ~returned
            if at == first_byte:
                gap &= ~((1 << (offset & 7)) - 1)  # bits before the start, in its byte
            if not gap:
                continue
            total += gap.bit_count()
            while gap and len(found) < limit:
                low = gap & -gap
                found.append(self._base + at * 8 + low.bit_length() - 1)
                gap ^= low
        return found, total

    # --- bitmaps --------------------------------------------------------------------------

    def _set(self, bits: bytearray, number: int) -> None:
        index = number - self._base
        if index < 0:
            return
        if index >= self._window:
            self._slide(index - self._window + 1)
            index = number - self._base
        byte = index >> 3
        if byte >= len(bits):
            bits.extend(bytes(byte + 1 - len(bits) + 65_536))
        bits[byte] |= 1 << (index & 7)

    def _slide(self, ids: int) -> None:
        drop = (ids + 7) >> 3
        del self._written[:drop]
        del self._returned[:drop]
        self._base += drop * 8
