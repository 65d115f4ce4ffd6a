"""Custom search attributes: how operators find runs in the Temporal UI and `riposte runs`."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

ACTOR = SearchAttributeKey.for_keyword("RiposteActor")
DETECTION = SearchAttributeKey.for_keyword_list("RiposteDetection")
SCORE = SearchAttributeKey.for_float("RiposteScore")
DECISION = SearchAttributeKey.for_keyword("RiposteDecision")
SOURCE = SearchAttributeKey.for_keyword("RiposteSource")
PLAYBOOK = SearchAttributeKey.for_keyword("RipostePlaybook")
STAGE = SearchAttributeKey.for_keyword("RiposteStage")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    ACTOR,
    DETECTION,
    SCORE,
    DECISION,
    SOURCE,
    PLAYBOOK,
    STAGE,
)


def dev_server_flags() -> list[str]:
    """`--search-attribute NAME=Type` flags that register every key at dev-server start."""
    type_names = {
        "KEYWORD": "Keyword",
        "KEYWORD_LIST": "KeywordList",
        "DOUBLE": "Double",
        "INT": "Int",
        "BOOL": "Bool",
        "TEXT": "Text",
        "DATETIME": "Datetime",
    }
    flags: list[str] = []
    for key in ALL:
        kind = key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
        flags += ["--search-attribute", f"{key.name}={type_names[kind]}"]
    return flags
