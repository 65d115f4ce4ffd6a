"""Workflow fingerprints: a cheap guard against changing a workflow without a patch.

Each workflow module's code is reduced to a hash of its AST (comments, docstrings and
formatting do not count). `tests/histories/fingerprints.json` records the hashes the
committed histories were made with. When a workflow's code changes, the fingerprint
test fails until the author has (1) gated the change with `workflow.patched()` if it
changes the command sequence, (2) recorded new histories with `make histories` and
(3) accepted the new fingerprints with `make fingerprints`. The replay test then proves
the old histories still replay against the new code.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILE = REPO / "tests" / "histories" / "fingerprints.json"
WORKFLOW_MODULES = tuple(
    sorted(str(p.relative_to(REPO)) for p in (REPO / "workflows").glob("*.py") if p.name != "__init__.py")
)


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
        self.generic_visit(node)
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip


def fingerprint(path: Path) -> str:
    tree = _StripDocstrings().visit(ast.parse(path.read_text()))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()[:16]


def current() -> dict[str, str]:
    return {module: fingerprint(REPO / module) for module in WORKFLOW_MODULES}


def recorded() -> dict[str, str]:
    return dict(json.loads(FILE.read_text())) if FILE.exists() else {}


if __name__ == "__main__":
    if "--update" in sys.argv:
        FILE.parent.mkdir(parents=True, exist_ok=True)
        FILE.write_text(json.dumps(current(), indent=2, sort_keys=True) + "\n")
    json.dump(current(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
