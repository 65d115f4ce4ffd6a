"""What the workflow sandbox re-executes for every new run: the workflow's own module, nothing more.

The sandbox imports a workflow's module afresh for each run, and with it every module that module
imports and does not pass through. The helpers under workflows/ are passed through
(`workflow.unsafe.imports_passed_through()`), but only an import by full name reaches the
sandbox's pass-through check: `from workflows import patches` resolves `patches` as an attribute
of the freshly imported `workflows` package and so loaded and executed workflows/patches.py (its
frozen dataclass and the whole register) again for every run, about 1.5 ms of CPU a run.
"""

from __future__ import annotations

import asyncio
import importlib.machinery
from collections.abc import Iterator

import pytest
import temporalio.workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from worker import WORKFLOWS


@pytest.fixture
def loaded() -> Iterator[list[str]]:
    """The modules whose code is read (from source or bytecode) while the fixture is active."""
    names: list[str] = []
    original = importlib.machinery.SourceFileLoader.get_code

    def spy(self: importlib.machinery.SourceFileLoader, fullname: str) -> object:
        names.append(fullname)
        return original(self, fullname)

    importlib.machinery.SourceFileLoader.get_code = spy  # type: ignore[assignment,method-assign]
    try:
        yield names
    finally:
        importlib.machinery.SourceFileLoader.get_code = original  # type: ignore[method-assign]


@pytest.mark.parametrize("cls", WORKFLOWS, ids=lambda c: c.__name__)
def test_a_new_run_re_executes_only_its_own_workflow_module(cls: type, loaded: list[str]) -> None:
    runner = SandboxedWorkflowRunner()
    defn = temporalio.workflow._Definition.must_from_class(cls)

    async def two_runs() -> None:  # an instance needs a running loop; the first run warms the host's imports
        runner.prepare_workflow(defn)
        loaded.clear()
        runner.prepare_workflow(defn)

    asyncio.run(two_runs())
    assert sorted(loaded) == sorted({"workflows", cls.__module__}), (
        f"{cls.__name__}: a new run re-executes {loaded}; import helpers by full name inside "
        "workflow.unsafe.imports_passed_through()"
    )
