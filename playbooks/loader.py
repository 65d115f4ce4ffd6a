"""Loading playbook files: YAML, validated by pydantic, errors that name file, line and field.

`python -m playbooks.loader [DIR]` checks a folder and prints every problem.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from riposte.models.alert import Alert
from riposte.models.common import Severity
from riposte.models.playbook import Playbook, PlaybookSnapshot

SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


class PlaybookError(Exception):
    """A playbook file is invalid. `.file`, `.line` (1-based, or None) and `.field` say where."""

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {problem}")
        self.file, self.line, self.field, self.problem = file, line, field, problem


def _line_of(node: yaml.Node | None, path: tuple[int | str, ...]) -> int | None:
    """Walk the composed YAML tree along a pydantic error location; the deepest node found wins."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            key = next((k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if match is None:
                return line
            line = (key or match).start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def load_playbook(path: Path) -> PlaybookSnapshot:
    raw = path.read_bytes()
    name = path.name
    try:
        text = raw.decode("utf-8")
        tree = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise PlaybookError(name, None, "(file)", "not UTF-8 text") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise PlaybookError(name, line, "(yaml)", str(exc.problem or exc)) from None
    if not isinstance(data, dict):
        raise PlaybookError(name, 1, "(file)", "a playbook is a YAML mapping")
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        # a typo'd key explains the "missing" error that usually comes with it: report it first
        error = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        field = ".".join(str(p) for p in loc) or "(playbook)"
        message = error["msg"] + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
        raise PlaybookError(name, _line_of(tree, loc), field, message) from None
    if playbook.name != path.stem:
        raise PlaybookError(name, _line_of(tree, ("name",)), "name", f"must match the file name ({path.stem!r})")
    from playbooks.scoring import FACTORS

    for factor in playbook.factors:
        if factor not in FACTORS:
            known = ", ".join(sorted(FACTORS))
            raise PlaybookError(
                name, _line_of(tree, ("factors", factor)), f"factors.{factor}", f"unknown factor; known: {known}"
            )
    for pattern in playbook.match.rule_names:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PlaybookError(name, _line_of(tree, ("match", "rule_names")), "match.rule_names", str(exc)) from None
    return PlaybookSnapshot(name=playbook.name, sha256=hashlib.sha256(raw).hexdigest(), source=name, playbook=playbook)


@dataclass(frozen=True)
class PlaybookSet:
    playbooks: list[PlaybookSnapshot]

    @classmethod
    def load(cls, directory: Path) -> PlaybookSet:
        files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
        if not files:
            raise PlaybookError(str(directory), None, "(folder)", "no playbook files (*.yaml)")
        loaded = [load_playbook(path) for path in files]
        names = [p.name for p in loaded]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise PlaybookError(str(directory), None, "name", f"two playbooks are named {duplicate!r}")
        return cls(loaded)

    def get(self, name: str) -> PlaybookSnapshot | None:
        return next((p for p in self.playbooks if p.name == name), None)

    def match(self, alert: Alert) -> PlaybookSnapshot | None:
        """The most specific playbook for the alert: rule-name and source matches beat catch-alls."""
        candidates = []
        for snapshot in self.playbooks:
            match = snapshot.playbook.match
            if alert.detection not in match.detections:
                continue
            if match.sources and alert.source.value not in match.sources:
                continue
            if match.rule_names and not any(re.search(p, alert.rule_name, re.IGNORECASE) for p in match.rule_names):
                continue
            if SEVERITY_ORDER[alert.severity] < SEVERITY_ORDER[match.min_severity]:
                continue
            specificity = (bool(match.rule_names), bool(match.sources), -len(match.detections))
            candidates.append((specificity, snapshot.name, snapshot))
        if not candidates:
            return None
        candidates.sort(key=lambda c: (tuple(-int(x) if isinstance(x, bool) else -x for x in c[0]), c[1]))
        return candidates[0][2]


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else Path("playbooks")
    try:
        found = PlaybookSet.load(directory)
    except PlaybookError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    for snapshot in found.playbooks:
        sys.stdout.write(f"ok  {snapshot.source}  {snapshot.sha256[:12]}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
