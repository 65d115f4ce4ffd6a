"""The patch register (workflows/patches.py), the code and the histories stay in step.

Every `workflow.patched()` / `deprecate_patch()` call names a registered id; every registered
id is used, documented in docs/patches.md, and recorded in at least one committed history
(so CI replays its new branch as well as the old one).
"""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path

from workflows import patches

REPO = Path(__file__).resolve().parents[1]
REGISTERED = {p.id: p for p in patches.REGISTER}


def patch_calls() -> dict[str, set[str]]:
    """patch id -> the workflow modules that call workflow.patched / deprecate_patch / patches.since with it."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "workflows").glob("*.py")):
        if path.name == "patches.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("patched", "deprecate_patch", "since") or not node.args:
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "patches":
                value = getattr(patches, arg.attr)
            elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                value = arg.value  # a literal id: must still be registered
            else:
                raise AssertionError(f"{path.name}:{node.lineno}: patch id is neither a patches constant nor a literal")
            found.setdefault(value, set()).add(path.name)
    return found


def recorded_markers() -> set[str]:
    ids = set()
    for path in (REPO / "tests" / "histories").glob("*.json"):
        if path.name == "fingerprints.json":
            continue
        for event in json.loads(path.read_text())["events"]:
            marker = event.get("markerRecordedEventAttributes")
            if marker and marker.get("markerName") == "core_patch":
                data = marker["details"]["patch-data"]["payloads"][0]["data"]
                ids.add(json.loads(base64.b64decode(data))["id"])
    return ids


def test_every_patch_in_the_code_is_registered_and_every_registered_patch_is_used() -> None:
    used = patch_calls()
    assert set(used) <= set(REGISTERED), f"unregistered patch ids: {sorted(set(used) - set(REGISTERED))}"
    assert set(REGISTERED) <= set(used), (
        f"registered but unused (retired? remove them): {sorted(set(REGISTERED) - set(used))}"
    )
    for patch_id, files in used.items():
        assert f"{REGISTERED[patch_id].workflow}" in {_workflow_of(f) for f in files} | {"*"}, (patch_id, files)


def _workflow_of(module: str) -> str:
    return {
        "investigation.py": "InvestigationWorkflow",
        "approval.py": "InvestigationWorkflow",
        "actions.py": "InvestigationWorkflow",
        "containment.py": "InvestigationWorkflow",
        "alert.py": "AlertWorkflow",
        "governor.py": "ActionGovernor",
        "digest.py": "DigestWorkflow",
        "detector.py": "DetectorWorkflow",
    }.get(module, "*")


def test_every_patch_has_a_history_that_takes_its_new_branch() -> None:
    recorded = recorded_markers()
    missing = {p.id for p in patches.REGISTER if p.id not in recorded and p.implied_by not in recorded}
    assert not missing, f"no committed history records {sorted(missing)}: `make histories TAG=<patch id>`"


def test_the_register_is_documented() -> None:
    doc = (REPO / "docs" / "patches.md").read_text()
    for patch in patches.REGISTER:
        assert f"`{patch.id}`" in doc, f"docs/patches.md does not list {patch.id}"
        assert patch.old_runs_query in doc, f"docs/patches.md does not show the query for {patch.id}"
