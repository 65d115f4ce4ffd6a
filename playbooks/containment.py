"""What can be undone after a decision, and why the rest cannot: pure, shared by the workflow,
the Slack messages and `riposte undo`.

Akku's contract reverses one action: a lock (`POST /v1/users/{id}/unlock`). It has no endpoint
to grant a role back, and ended sessions, a forced password reset and cleared MFA factors are
gone for good, so Riposte says so instead of pretending.
"""

from __future__ import annotations

from riposte.models.actions import ActionResult
from riposte.models.common import ActionKind

REVERSE: dict[ActionKind, ActionKind] = {ActionKind.LOCK: ActionKind.UNLOCK}
UNDO, KEEP = "undo", "keep"  # the option ids of the Undo and Keep locked buttons
OPTIONS = (UNDO, KEEP)


def request_id(decision: int) -> str:
    return f"undo-{decision}"


def why_not(action: ActionKind, role: str | None = None) -> str:
    """Why an applied action cannot be undone through Riposte (one sentence)."""
    if action is ActionKind.REVOKE_ROLE:
        name = f"the role {role}" if role else "the role"
        return f"revoke role: Akku has no endpoint to grant a role back; re-grant {name} in Akku's console"
    if action is ActionKind.REVOKE_SESSIONS:
        return "revoke sessions: ended sessions cannot be restored (the person signs in again)"
    if action is ActionKind.FORCE_PASSWORD_RESET:
        return "force password reset: a forced reset cannot be taken back (the person sets a new password)"
    if action is ActionKind.RESET_MFA:
        return "reset MFA: cleared factors cannot be restored (the person enrols again)"
    return f"{action.value.replace('_', ' ')}: cannot be undone"


def split(results: list[ActionResult], role: str | None = None) -> tuple[list[ActionKind], list[str]]:
    """The applied actions Riposte can reverse, and a sentence for each applied one it cannot.
    A lock Akku answered `already_applied` was someone else's: it is not Riposte's to lift."""
    reversible: list[ActionKind] = []
    irreversible: list[str] = []
    for r in results:
        if r.action in REVERSE and r.status == "applied":
            reversible.append(r.action)
        elif r.action in REVERSE and r.status == "already_applied":
            irreversible.append(
                f"{r.action.value}: the account was already locked before this run; not Riposte's to lift"
            )
        elif r.status in ("applied", "already_applied") and r.action not in REVERSE:
            irreversible.append(why_not(r.action, role))
    return reversible, irreversible
