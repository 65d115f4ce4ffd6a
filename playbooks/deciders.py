"""Who may not decide: the person under investigation, and whoever a role change favoured.

Pure. The investigation's `decide` validator asks this before a click or a CLI decision
reaches the history; a match on any of the person's names (Akku id, email, login) refuses.
"""

from __future__ import annotations

from riposte.models.evidence import UserRecord
from riposte.models.runs import DecisionRequest


def names_of(actor_id: str, user: UserRecord | None) -> set[str]:
    names = {actor_id.lower()}
    if user is not None:
        names |= {n.lower() for n in (user.email, user.login) if n}
    return names


def who(request: DecisionRequest) -> set[str]:
    """Every name the decider goes by: Slack id or operator, display name, verified email."""
    found = {request.decided_by.removeprefix("cli:").lower(), request.decided_by_name.lower()}
    if request.decided_by_email:
        found.add(request.decided_by_email.lower())
    return {n for n in found if n}


def is_excluded(request: DecisionRequest, excluded: set[str]) -> bool:
    """True when the decider is one of the excluded people (compare lower-cased names)."""
    return bool(who(request) & excluded)
