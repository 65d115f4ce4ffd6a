"""Response actions: what the engine asks Akku to do, and what Akku answered."""

from __future__ import annotations

from typing import Literal

from riposte.models.common import ActionKind, Model
from riposte.models.evidence import UserRecord


class ActionRequest(Model):
    actor_id: str
    action: ActionKind
    reason: str
    reference: str  # the workflow id, so Akku's audit log points back at the run
    idempotency_key: str  # workflow id + step: a retried or replayed step never acts twice
    role: str | None = None  # revoke_role only


class ActionResult(Model):
    actor_id: str
    action: ActionKind
    status: Literal["applied", "already_applied", "dry_run", "skipped", "failed"]
    detail: str = ""
    user: UserRecord | None = None
