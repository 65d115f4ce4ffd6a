"""Layers point one way: each top-level package imports only the layers beneath it.

    riposte (shared models, settings)  <  clients  <  playbooks (pure)  <  detect, intake
    <  activities  <  workflows  <  worker, gateway, cli, bench

The simulators stand beside the product and speak only the contract (riposte, clients).
Non-test code never imports tests/, and tests never import a conftest module. Every import
counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EVERYTHING = {"riposte", "clients", "playbooks", "detect", "intake", "activities", "workflows", "gateway"}
EVERYTHING |= {"simulators", "cli", "bench", "worker"}
ALLOWED: dict[str, set[str]] = {
    "riposte": set(),
    "clients": {"riposte"},
    "playbooks": {"riposte", "clients"},
    "detect": {"riposte", "clients", "playbooks"},
    "intake": {"riposte", "playbooks"},
    "simulators": {"riposte", "clients"},
    "activities": {"riposte", "clients", "playbooks", "detect", "intake"},
    "workflows": {"riposte", "playbooks", "activities", "detect"},
    "gateway": {"riposte", "clients", "playbooks", "intake"},
    "worker": {"riposte", "clients", "playbooks", "detect", "intake", "activities", "workflows"},
    "cli": EVERYTHING - {"cli", "bench"},
    "bench": EVERYTHING - {"bench"},
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules() -> list[tuple[str, Path]]:
    found = [("worker", REPO / "worker.py")]
    for package in ALLOWED:
        if package != "worker":
            found += [(package, p) for p in sorted((REPO / package).rglob("*.py"))]
    return found


@pytest.mark.parametrize(
    ("package", "path"), modules(), ids=lambda v: str(v.relative_to(REPO)) if isinstance(v, Path) else v
)
def test_imports_point_down_the_layers(package: str, path: Path) -> None:
    wrong = set()
    for name in imports(path):
        top = name.split(".")[0]
        if top == "tests" or (top in EVERYTHING and top != package and top not in ALLOWED[package]):
            wrong.add(name)
    assert not wrong, f"{path.relative_to(REPO)} ({package}) reaches back up to {sorted(wrong)}"


def test_tests_share_helpers_through_modules_not_conftest() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "tests").rglob("*.py")
        if any(name.split(".")[-1] == "conftest" for name in imports(p))
    ]
    assert not offenders, offenders


def test_a_backwards_import_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from workflows.investigation import InvestigationWorkflow\n")
    assert "workflows.investigation" in imports(bad)
    assert "workflows" not in ALLOWED["activities"]
