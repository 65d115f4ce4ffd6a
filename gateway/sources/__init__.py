"""SIEM payload parsers: each turns its source's body into one normalised `Alert`.

A parser raises `NotAnAlert` (422) for valid JSON that is not an alert of its source,
with a reason a SIEM admin can act on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.config import GatewayConfig, Identity, SourceConfig
from gateway.errors import NotAnAlert
from riposte.models.alert import RAW_PAYLOAD_CAP, ActorRef, Alert, IdentityKind


@dataclass(frozen=True)
class Delivery:
    """What arrived: the parsed body, its raw bytes, and the sender's message id if it signed."""

    payload: Any
    raw: bytes
    received_at: datetime
    message_id: str | None = None


Parser = Callable[[Delivery, GatewayConfig], Alert]


def lookup(obj: Any, path: str) -> Any:
    """`a.b.c` through nested objects, or a flat key with dots in it (ECS documents use both)."""
    if not isinstance(obj, dict):
        return None
    if path in obj:
        return obj[path]
    head, _, rest = path.partition(".")
    while rest:
        if head in obj:
            found = lookup(obj[head], rest)
            if found is not None:
                return found
        nxt, _, rest = rest.partition(".")
        head = f"{head}.{nxt}"
    return obj.get(head)


def mapping(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise NotAnAlert(f"expected a JSON object ({what})")
    return payload


def text(value: Any, field: str, *, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise NotAnAlert(f"missing {field}")
        return None
    if not isinstance(value, (str, int, float)):
        raise NotAnAlert(f"{field} must be a string")
    return str(value).strip()


def timestamp(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def actor(value: str, identity: Identity) -> ActorRef:
    mapped = identity.map.get(value) or identity.map.get(value.lower())
    if mapped:
        return ActorRef(kind=IdentityKind.AKKU_ID, value=mapped)
    kind = identity.kind
    if kind is IdentityKind.AKKU_ID and "@" in value:  # an email where an id was expected: resolve it
        kind = IdentityKind.EMAIL
    return ActorRef(kind=kind, value=value)


_SEPARATORS = re.compile(r"[,;\s]+")
_QUOTED = re.compile(r'"([^"\\]*)"')
MAX_VALUES = 5000  # per field: as many people as a generic alert may name


def values(value: Any, field: str) -> list[str]:
    """Every value of a field that may hold several: a list (Splunk multivalue, ES|QL `VALUES`), a JSON
    array as text (a Sentinel custom detail of an array column), or text separated by commas,
    semicolons or newlines (`mvjoin`, Kibana's rendering of an array). Ids, emails and IPs hold none."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, list):
        found = [v for item in value for v in values(item, field)]
    elif isinstance(value, (int, float)):
        found = [str(value)]
    elif isinstance(value, str):
        stripped, found = value.strip(), []
        if stripped.startswith("["):
            try:
                parsed = json.loads(stripped)
            except (ValueError, RecursionError):  # cut short (Sentinel caps custom details): the whole strings
                found = [v for v in _QUOTED.findall(stripped) if v.strip()]
            else:
                if not isinstance(parsed, list) or not all(isinstance(v, (str, int, float)) for v in parsed):
                    raise NotAnAlert(f"{field} must be a JSON array of text")
                return values(parsed, field)
        if not found:
            found = [v for v in _SEPARATORS.split(stripped.strip("[]")) if v]
    else:
        raise NotAnAlert(f"{field} must be text or a list of text")
    if len(found) > MAX_VALUES:
        raise NotAnAlert(f"{field} names more than {MAX_VALUES} values")
    return found


def read_actors(record: Any, source: SourceConfig, default: str | None = None) -> list[ActorRef]:
    """The people a record names: from the first configured actor field the record has a value in."""
    for spec in source.actor_fields(default):
        found = [v for v in values(lookup(record, spec.field), spec.field) if spec.accepts(v)]
        if found:
            identity = Identity(kind=spec.kind, map=source.identity.map)
            return [actor(v, identity) for v in found]
    return []


def read_ips(record: Any, source: SourceConfig, default: str | None = None) -> list[str]:
    return [ip for name in source.ip_fields(default) for ip in values(lookup(record, name), name)]


def unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def raw_text(raw: bytes) -> str:
    return raw[:RAW_PAYLOAD_CAP].decode("utf-8", errors="replace")


def parsers() -> dict[str, Parser]:
    from gateway.sources import elastic, generic, sentinel, splunk

    return {"splunk": splunk.parse, "sentinel": sentinel.parse, "elastic": elastic.parse, "generic": generic.parse}
