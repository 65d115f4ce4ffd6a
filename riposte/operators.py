"""Operator identity for decisions made from the command line.

A worker knows its operators' tokens (`RIPOSTE_OPERATOR_TOKENS`, `alice:<token>,bob:<token>`);
an operator's shell holds their own entry (`RIPOSTE_OPERATOR_TOKEN`, `alice:<token>`). A CLI
decision carries no token, only a proof: an HMAC under the operator's token over exactly what
is decided (run, request, option, operator). The worker checks it; the proof in a run's history
is useless for any other decision and reveals nothing of the token.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

MIN_TOKEN = 16


class OperatorTokenError(ValueError):
    """A token setting is malformed (the message never contains a token)."""


@dataclass(frozen=True)
class Operator:
    name: str
    token: str


def parse_operators(spec: str) -> list[Operator]:
    """`alice:<token>,bob:<token>`: names may repeat (a rotation keeps the old token a while)."""
    found = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        name, sep, token = part.partition(":")
        if not sep or not name.strip() or len(token) < MIN_TOKEN:
            raise OperatorTokenError(f"each entry is <operator>:<token of {MIN_TOKEN}+ characters>")
        found.append(Operator(name.strip(), token))
    return found


def parse_operator(spec: str) -> Operator:
    """One operator's own entry, `alice:<token>`."""
    operators = parse_operators(spec)
    if len(operators) != 1:
        raise OperatorTokenError("expected one entry, <operator>:<token>")
    return operators[0]


def _message(workflow_id: str, request_id: str, option_id: str, operator: str) -> bytes:
    return "\n".join(("riposte-decision-v1", workflow_id, request_id, option_id, operator)).encode()


def proof(me: Operator, *, workflow_id: str, request_id: str, option_id: str) -> str:
    return hmac.new(
        me.token.encode(), _message(workflow_id, request_id, option_id, me.name), hashlib.sha256
    ).hexdigest()


def verify(
    operators: list[Operator], given: str, *, operator: str, workflow_id: str, request_id: str, option_id: str
) -> bool:
    """True when one of `operator`'s tokens made this proof for exactly this decision."""
    message = _message(workflow_id, request_id, option_id, operator)
    return any(
        hmac.compare_digest(hmac.new(o.token.encode(), message, hashlib.sha256).hexdigest(), given)
        for o in operators
        if o.name == operator
    )
