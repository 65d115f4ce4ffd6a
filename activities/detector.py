"""follow_akku: the long activity behind DetectorWorkflow that reads Akku's events and fires the rules.

Its position lives in its heartbeat details (detect/models.py Checkpoint): the newest event
processed, the replay-from point (the oldest event any window still needs), the rules'
quiet periods, counters. A retry (a crashed or stopped worker) resumes from those details:
it re-reads from the replay-from point minus the lateness allowance to rebuild the windows,
so nothing is missed, and a firing that already happened maps to the same dedup key, so
Temporal refuses the duplicate run. A checkpoint is only ever sent once every firing of the
events before it has started its alert run. Events never pass through a workflow history.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict, deque
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client

from activities.detector_metrics import DETECTOR
from activities.detector_read import Item, Reader
from clients.akku.client import AkkuClient
from clients.akku.errors import AkkuError
from clients.akku.models import AuthEvent
from clients.akku.records import Heartbeat, Malformed
from detect.config import rule_configs
from detect.engine import Detector, Firing
from detect.models import (
    FIRINGS_KEPT,
    RECENT_IDS_KEPT,
    SUPPRESSIONS_KEPT,
    Checkpoint,
    Counters,
    FiringNote,
    FollowInput,
    FollowResult,
    Position,
)
from intake.start import start_alert_run
from playbooks.loader import PlaybookSet
from riposte.settings import Settings

log = logging.getLogger("riposte.detector")

BATCH = 1000  # events processed between two looks at the clock
QUEUE = 10_000  # read ahead at most this many events (backpressure on Akku)
SEEN_CAP = 500_000  # ids remembered to skip re-deliveries within one attempt (~60 MB at most)
TICK = 1.0  # seconds between checkpoints
START_CONCURRENCY = 16  # alert runs being started at once (a storm of firings in one batch)
At = tuple[datetime, str]  # (timestamp, event id): an event's place in Akku's order


class Follower:
    """One attempt of follow_akku: reader → queue → processor, and a ticker sending checkpoints."""

    def __init__(self, settings: Settings, client: Client, akku: AkkuClient, resume: Checkpoint | None) -> None:
        self.settings, self.client, self.akku = settings, client, akku
        self.lateness = timedelta(seconds=settings.riposte_detect_lateness_seconds)
        self.playbooks = PlaybookSet.load(settings.riposte_playbooks_dir)
        self.engine = Detector(rule_configs(self.playbooks), max_keys=settings.riposte_detect_max_keys)
        resume = resume or Checkpoint()
        self.engine.restore(resume.suppressions)
        self.resumed_at: At | None = (resume.position.timestamp, resume.position.event_id) if resume.position else None
        self.resumed_ids = set(resume.recent_ids)
        self.counts: Counter[str] = Counter(resume.counters.model_dump())  # mutable while running
        self.counts["attempts"] += 1
        self.firings: list[FiringNote] = list(resume.firings)
        self.position: At | None = self.resumed_at  # the newest event processed
        windows = [c.window for r, c in self.engine.configs.items() if r in self.engine.windows]
        longest = max(windows, default=timedelta(minutes=30))
        start = resume.replay_from or (resume.position.timestamp if resume.position else None)
        self.start = (start or datetime.now(UTC) - longest) - self.lateness
        self.read_upto: datetime | None = None  # the newest event this attempt has read
        self.seen: OrderedDict[str, float] = OrderedDict()
        self.recent: deque[str] = deque(maxlen=RECENT_IDS_KEPT)
        self.queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE)
        self.lock = asyncio.Lock()
        self.rate: deque[tuple[float, int]] = deque(maxlen=30)
        self.reader = Reader(
            akku,
            self.queue.put,
            self.since,
            mode=settings.riposte_detect,
            poll_seconds=settings.riposte_detect_poll_seconds,
        )
        self.reader.reconnects, self.reader.fallbacks = self.counts["reconnects"], self.counts["fallbacks"]

    def since(self) -> datetime:
        """Where the next read starts: the resume point, then just before the newest event read so far."""
        return self.start if self.read_upto is None else max(self.start, self.read_upto - self.lateness)

    # --- the loop ---------------------------------------------------------------------

    async def run(self, run_for: float) -> Checkpoint:
        log.info(
            "detector following Akku (%s) from %s, rules: %s",
            self.reader.mode,
            self.start.isoformat(),
            ", ".join(r.value for r in self.engine.configs),
        )
        tasks = [asyncio.create_task(self.reader.run()), asyncio.create_task(self._process())]
        ticker = asyncio.create_task(self._tick())
        try:
            done, _ = await asyncio.wait([*tasks, ticker], timeout=run_for, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a failed task fails the attempt (Temporal retries from the checkpoint)
            async with self.lock:  # let the batch in hand finish starting its runs
                for task in tasks:
                    task.cancel()
                return self.checkpoint()
        finally:
            for task in [*tasks, ticker]:
                task.cancel()
            await asyncio.gather(*tasks, ticker, return_exceptions=True)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            async with self.lock:
                checkpoint = self.checkpoint()
            activity.heartbeat(checkpoint)

    async def _process(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            while len(batch) < BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            async with self.lock:
                events = self._fresh(batch)
                await self._lookups(events)
                firings = [f for event in events for f in self._one(event)]
                gate = asyncio.Semaphore(START_CONCURRENCY)

                async def start(firing: Firing, gate: asyncio.Semaphore = gate) -> None:
                    async with gate:
                        await self._start(firing)

                await asyncio.gather(*(start(f) for f in firings))
                self.rate.append((loop.time(), self.counts["events"] + self.counts["replayed"]))
            DETECTOR.events.inc(len(events))

    def _fresh(self, batch: list[Item]) -> list[AuthEvent]:
        events = []
        for item in batch:
            if isinstance(item, Heartbeat):
                continue
            if isinstance(item, Malformed):
                self.counts["malformed"] += 1
                DETECTOR.malformed.inc()
                log.warning("skipped a malformed event line (%s, %d characters)", item.problem, item.length)
                continue
            if item.event_id in self.seen:
                self.counts["duplicates"] += 1
                continue
            self.seen[item.event_id] = item.timestamp.timestamp()
            events.append(item)
        while len(self.seen) > SEEN_CAP:
            self.seen.popitem(last=False)
        return events

    async def _lookups(self, events: list[AuthEvent]) -> None:
        wanted = self.engine.needs_lookup(events)
        if not wanted:
            return
        try:
            found = await self.akku.users_many(wanted)
        except AkkuError as exc:
            log.warning("last-activity lookup failed (%s): those sign-ins have no baseline", type(exc).__name__)
            return
        for actor in wanted:
            user = found.users.get(actor)
            self.engine.seed_last_active(actor, user.last_active_at if user else None)
        self.counts["lookups"] += len(wanted)

    def _one(self, event: AuthEvent) -> list[Firing]:
        here = (event.timestamp, event.event_id)
        if self._processed_before(here):
            self.counts["replayed"] += 1
        else:
            self.counts["events"] += 1
        if self.position is None or here > self.position:
            self.position = here
        if self.read_upto is None or event.timestamp > self.read_upto:
            self.read_upto = event.timestamp
        self.recent.append(event.event_id)
        return self.engine.process(event)

    def _processed_before(self, here: At) -> bool:
        """Read again after a restart (to rebuild the windows), not new: counted apart."""
        last = self.resumed_at
        if last is None or here > last:
            return False
        return here[1] in self.resumed_ids or here[0] < last[0] - self.lateness

    async def _start(self, firing: Firing) -> None:
        alert = firing.alert(received_at=datetime.now(UTC))
        playbook = self.playbooks.match(alert)
        status, workflow_id = "no_playbook", ""
        if playbook is not None:
            started = await start_alert_run(self.client, alert, playbook, self.settings)
            status, workflow_id = started.status, started.workflow_id
        log.info(
            "rule %s fired for %s: %s (%s)",
            firing.rule.value,
            firing.key,
            firing.detail,
            status,
            extra={"dedup_key": firing.dedup_key, "workflow_id": workflow_id},
        )
        DETECTOR.firings.labels(rule=firing.rule.value, status=status).inc()
        self.counts["firings"] += 1
        self.firings.append(
            FiringNote(
                rule=firing.rule.value,
                key=firing.key,
                dedup_key=firing.dedup_key,
                fired_at=alert.received_at,
                window_start=alert.window_start or alert.received_at,
                window_end=alert.window_end or alert.received_at,
                actors=len(alert.actors),
                workflow_id=workflow_id,
                status=status,
            )
        )

    # --- the checkpoint ---------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        now = datetime.now(UTC)
        self.engine.expire()
        hour_ago = now - timedelta(hours=1)
        self.firings = [f for f in self.firings if f.fired_at >= hour_ago][-FIRINGS_KEPT:]
        replay_from = self.engine.oldest_needed()
        position = Position(timestamp=self.position[0], event_id=self.position[1]) if self.position else None
        if position is not None:
            replay_from = min(replay_from or position.timestamp, position.timestamp)
            horizon = (position.timestamp - 2 * self.lateness).timestamp()
            while self.seen and next(iter(self.seen.values())) < horizon and len(self.seen) > RECENT_IDS_KEPT:
                self.seen.popitem(last=False)
        rate = 0.0
        if len(self.rate) >= 2:
            (t0, n0), (t1, n1) = self.rate[0], self.rate[-1]
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        lag = (now - position.timestamp).total_seconds() if position else None
        if lag is not None:
            DETECTOR.lag.set(lag)
        self.counts["reconnects"], self.counts["fallbacks"] = self.reader.reconnects, self.reader.fallbacks
        return Checkpoint(
            position=position,
            replay_from=replay_from,
            suppressions=self.engine.suppressions(SUPPRESSIONS_KEPT),
            recent_ids=list(self.recent),
            counters=Counters(**self.counts),
            firings=self.firings,
            mode=self.reader.mode,
            events_per_second=round(rate, 1),
            lag_seconds=round(lag, 3) if lag is not None else None,
            heartbeat_at=now,
            rules=[r.value for r in self.engine.configs],
        )


class DetectorActivities:
    def __init__(self, settings: Settings, client: Client, akku: AkkuClient) -> None:
        self._settings, self._client, self._akku = settings, client, akku

    @activity.defn(name="follow_akku")
    async def follow_akku(self, inp: FollowInput) -> FollowResult:
        """Follow Akku's events for `run_for_seconds`, then return the checkpoint (the workflow calls
        again); a retry resumes from the last heartbeat's checkpoint."""
        details = activity.info().heartbeat_details
        resume = Checkpoint.model_validate(details[0]) if details else inp.checkpoint
        follower = Follower(self._settings, self._client, self._akku, resume)
        return FollowResult(checkpoint=await follower.run(inp.run_for_seconds))
