"""The approval digest: one Slack message for a wave of approval requests of one playbook.

An investigation whose request may be decided in bulk joins the digest of its task queue,
playbook and 10-minute window (`DigestWorkflow`, workflows/digest.py). The first
`INDIVIDUAL_LIMIT` requests are posted on their own as always; from the next one on the
digest posts one message for all of them and keeps it current, so a wave of 500 people is
three top-level messages, not 500.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ConfigDict, Field

from riposte.models.common import DetectionType, Model
from riposte.models.playbook import ApprovalOption

JOIN = "join"  # update (with start): an investigation's request joins the digest
DECIDE_ALL = "decide_all"  # update: Approve all / Deny all / Review individually, from the gateway
DIGEST_STATUS = "digest_status"  # query

INDIVIDUAL_LIMIT = 2  # requests posted on their own before the digest takes over
WINDOW = timedelta(minutes=10)
DIGEST_ACTION_PREFIX = "riposte_digest_"  # action_id of the digest's buttons
Choice = Literal["approve", "deny", "review"]
EntryState = Literal["waiting", "in_flight", "decided", "recorded", "refused", "decided_elsewhere", "ended"]
DECIDED: frozenset[str] = frozenset({"decided", "decided_elsewhere", "ended"})  # nothing left to do


def digest_id(queue: str, playbook: str, at: datetime) -> str:
    """One digest per task queue, playbook and window; `at` is the request's (workflow) time."""
    seconds = int(WINDOW.total_seconds())
    start = int(at.timestamp()) // seconds * seconds
    return f"riposte-digest/{queue}/{playbook}/{start}"


class DigestEntry(Model):
    """One person's pending request, as much as the digest shows and decides with."""

    workflow_id: str
    request_id: str
    actor_id: str
    display_name: str = ""
    score: float
    source_ips: list[str] = Field(default_factory=list)  # the first few
    countries: list[str] = Field(default_factory=list)
    detection: DetectionType
    options: list[ApprovalOption] = Field(default_factory=list)
    channel: str | None = None

    def option_for(self, choice: Choice) -> str | None:
        """Approve all: the first option that acts; Deny all: the first that does not."""
        want = choice == "approve"
        return next((o.id for o in self.options if bool(o.actions) == want), None)


class JoinRequest(Model):
    queue: str
    playbook: str
    at: datetime  # the investigation's workflow time: a retried join finds the same digest
    entry: DigestEntry


class JoinAnswer(Model):
    digest_id: str
    position: int  # 1-based, in the order requests joined
    individual: bool  # post the request on its own (True), or leave it to the digest


class DigestInput(Model):
    digest_id: str
    playbook: str
    window_end: datetime
    carried: DigestState | None = None  # continue-as-new


class EntryOutcome(Model):
    state: EntryState = "waiting"
    detail: str = ""  # why refused; what was recorded
    by: str = ""  # who decided (display name)
    by_id: str = ""  # their Slack id: a refusal is retried only for someone else's click


class DigestPosted(Model):
    channel: str
    ts: str | None = None
    error: str | None = None


class DigestState(Model):
    entries: list[DigestEntry] = Field(default_factory=list)
    outcomes: dict[str, EntryOutcome] = Field(default_factory=dict)  # by workflow id
    posted: DigestPosted | None = None
    threads: dict[str, str] = Field(default_factory=dict)  # workflow id -> ts of its request in the thread
    last_action: str = ""  # the latest bulk decision, in words


class BulkDecision(Model):
    """The `decide_all` update: a click on one of the digest's buttons."""

    choice: Choice
    decided_by: str  # Slack user id
    decided_by_name: str = ""
    decided_by_email: str | None = None


class BulkAck(Model):
    status: Literal["accepted"] = "accepted"
    count: int  # people this click is being applied to
    choice: Choice


class DigestButton(Model):
    """A digest button's value (compact JSON, like the per-person ButtonValue)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    digest_id: str = Field(alias="d", min_length=1, max_length=512)
    choice: Choice = Field(alias="c")

    def pack(self) -> str:
        return json.dumps(self.model_dump(by_alias=True), separators=(",", ":"))

    @classmethod
    def unpack(cls, value: str) -> DigestButton:
        return cls.model_validate_json(value)


class BulkTarget(Model):
    workflow_id: str
    request_id: str
    option_id: str


class DecideMany(Model):
    """Input of the activity that sends each investigation its `decide` update."""

    digest_id: str
    targets: list[BulkTarget]
    decision: BulkDecision


class DecidedOne(Model):
    workflow_id: str
    outcome: EntryOutcome


class DecideManyResult(Model):
    results: list[DecidedOne] = Field(default_factory=list)


class StillPending(Model):
    """Input of the activity that asks open entries' investigations whether they still wait."""

    entries: list[DigestEntry]


class Refusal(Model):
    name: str
    actor_id: str
    detail: str


class DigestMessage(Model):
    """What the digest message shows, summarised in the workflow: input of the Slack activities that
    post and update it (a few KiB, however many people the digest holds)."""

    digest_id: str
    playbook: str
    channel: str | None = None
    posted: DigestPosted | None = None
    count: int
    detection: str
    score_min: float
    score_max: float
    source_ips: list[tuple[str, int]] = Field(default_factory=list)  # the most shared, with how many share each
    countries: list[tuple[str, int]] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)  # the first few
    tally: dict[str, int] = Field(default_factory=dict)  # entry state -> how many
    refusals: list[Refusal] = Field(default_factory=list)  # the first few
    refused: int = 0
    last_action: str = ""
    closed: bool = False


SHOWN_NAMES = 5
SHOWN_SHARED = 5
SHOWN_REFUSALS = 10


def _shared(values: list[list[str]]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for found in values:
        for value in dict.fromkeys(found):
            counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:SHOWN_SHARED]


def summarise(
    digest: str,
    playbook: str,
    entries: list[DigestEntry],
    outcomes: dict[str, EntryOutcome],
    *,
    posted: DigestPosted | None,
    last_action: str,
    closed: bool,
) -> DigestMessage:
    """Pure (the workflow calls it): the digest's entries and outcomes as the message shows them."""
    states = [outcomes.get(e.workflow_id, EntryOutcome()) for e in entries]
    tally: dict[str, int] = {}
    for outcome in states:
        tally[outcome.state] = tally.get(outcome.state, 0) + 1
    refused = [(e, o) for e, o in zip(entries, states, strict=True) if o.state == "refused"]
    scores = [e.score for e in entries] or [0.0]
    return DigestMessage(
        digest_id=digest,
        playbook=playbook,
        channel=next((e.channel for e in entries if e.channel), None),
        posted=posted,
        count=len(entries),
        detection=entries[0].detection.value.replace("_", " ") if entries else "approval",
        score_min=min(scores),
        score_max=max(scores),
        source_ips=_shared([e.source_ips for e in entries]),
        countries=_shared([e.countries for e in entries]),
        names=[e.display_name or e.actor_id for e in entries[:SHOWN_NAMES]],
        tally=tally,
        refusals=[
            Refusal(name=e.display_name or e.actor_id, actor_id=e.actor_id, detail=o.detail)
            for e, o in refused[:SHOWN_REFUSALS]
        ],
        refused=len(refused),
        last_action=last_action,
        closed=closed,
    )


class ThreadPost(Model):
    """Review individually: post these requests in the digest's thread."""

    posted: DigestPosted
    workflow_ids: list[str]


class ThreadPosted(Model):
    threads: dict[str, str] = Field(default_factory=dict)  # workflow id -> ts of its request in the thread


class DigestStatus(Model):
    digest_id: str
    entries: int
    posted: DigestPosted | None = None
    outcomes: dict[str, EntryOutcome] = Field(default_factory=dict)
    last_action: str = ""


DigestInput.model_rebuild()
