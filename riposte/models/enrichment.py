"""Enrichment requests and answers: what the alert run asks of Akku, and the compact summaries it gets."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from riposte.models.alert import ActorRef
from riposte.models.common import Model
from riposte.models.evidence import ActorEvidence, IpStats

BATCH_LIMIT = 100  # docs/akku.md: at most 100 actor ids per batch call


class ResolveRequest(Model):
    """SIEM identities (emails, UPNs) to turn into Akku actor ids."""

    refs: list[ActorRef]


class ResolveResult(Model):
    actor_ids: dict[str, str] = Field(default_factory=dict)  # SIEM value -> Akku actor id
    unknown: list[str] = Field(default_factory=list)  # values Akku does not know


class EvidenceRequest(Model):
    actor_ids: list[str] = Field(max_length=BATCH_LIMIT)
    since: datetime
    until: datetime
    admin_history_days: int | None = None  # admin elevation: compare with the admin's own history


class EvidenceBatch(Model):
    evidence: list[ActorEvidence] = Field(default_factory=list)
    unknown_actor_ids: list[str] = Field(default_factory=list)


class IpActivityRequest(Model):
    """the log rules' (docs/rules.md) brute force by source IP: what did these addresses do across all users?"""

    ips: list[str]
    since: datetime
    until: datetime


class IpActivityResult(Model):
    stats: list[IpStats] = Field(default_factory=list)
    actor_ids: list[str] = Field(default_factory=list)  # the accounts the IPs touched (capped)
