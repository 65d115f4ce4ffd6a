"""The `riposte` command: help that teaches, settings errors that name the variable, the demo,
and the operator tools (decide, list, show, export, replay) on a running stack."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rich.console import Console
from temporalio.client import Client
from typer.testing import CliRunner

from cli import driver
from cli.demo import AlertRun, run_demo
from cli.logs import Problems
from cli.main import app
from cli.operators import decide, export_history, list_runs, replay_histories, show_run
from cli.rig import running_stack, stack_settings, terminate_open_workflows
from cli.stack import StackOptions

runner = CliRunner()
COMMANDS = [
    "dev",
    "demo",
    "worker",
    "gateway",
    "simulate",
    "replay",
    "approve",
    "deny",
    "undo",
    "runs",
    "show",
    "export",
]


def test_help_lists_every_command_and_each_explains_itself() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
    for command in [*COMMANDS, "simulate akku", "simulate slack"]:
        sub = runner.invoke(app, [*command.split(), "--help"])
        assert sub.exit_code == 0, command
        assert len(sub.output.strip().splitlines()) > 3, command


def test_a_bad_setting_is_a_usage_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "no-port-here")
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 2
    assert "TEMPORAL_ADDRESS" in result.output


def test_an_unknown_command_is_a_usage_error() -> None:
    assert runner.invoke(app, ["launch-missiles"]).exit_code == 2


async def test_the_demo_plays_every_scenario_to_its_end(client: Client, task_queue: str) -> None:
    settings = stack_settings(client, task_queue)
    runs: list[AlertRun] = []
    out = io.StringIO()
    try:
        code = await run_demo(
            settings,
            StackOptions(quiet=True),
            auto_approve=True,
            exit_after=True,
            console=Console(file=out, width=160),
            record=runs,
        )
        # every run the demo made replays against the current code (`riposte replay --query`)
        replayed = io.StringIO()
        query = f"TaskQueue = '{task_queue}'"
        assert await replay_histories(settings, None, [], query, Console(file=replayed, width=200)) == 0
        assert " 0 non-deterministic" in replayed.getvalue() and "replayed cleanly" in replayed.getvalue()
    finally:  # its investigations wait out their quiet period: end them for the next test
        await terminate_open_workflows(client, task_queue)
    assert code == 0, out.getvalue()[-2000:]
    assert {r.scenario.source for r in runs} == {"splunk", "sentinel", "elastic", "generic"}
    for run in runs:
        assert run.error is None and run.investigations, run.scenario.name
        actions = [r for i in run.investigations if i.status for d in i.status.decisions for r in d.results]
        if run.scenario.false_positive:
            assert actions == [], run.scenario.name
        else:
            assert any(a.status == "applied" for a in actions), run.scenario.name
    summary = out.getvalue()
    assert "what happened" in summary and "office_login_burst (false positive)" in summary


async def test_operators_decide_list_show_export_and_replay(client: Client, task_queue: str, tmp_path: Path) -> None:
    async with running_stack(client, task_queue) as stack:
        fired = await driver.fire_scenario(stack, "dormant_account")
        ((workflow_id, _),) = (await driver.settle(stack, fired)).items()
        settings = stack.settings
        actor = workflow_id.removeprefix("investigation-")

        assert await decide(settings, workflow_id, approve=False, option="no_such_option", operator="maria") == 2
        assert await decide(settings, workflow_id, approve=True, option=None, operator="maria") == 0
        await driver.wait_for_stage(stack.client, workflow_id, "approved")
        assert await decide(settings, workflow_id, approve=True, option=None, operator="maria") == 1  # nothing pending

        rows = await list_runs(settings, actor=actor, detection=None, decision=None, status=None, since=None, limit=10)
        assert rows and rows[0][0] == workflow_id and rows[0][1] == actor

        out = io.StringIO()
        assert await show_run(settings, workflow_id, Console(file=out, width=200)) == 0
        shown = out.getvalue()
        assert "dormant" in shown and "lock" in shown and "approved" in shown

        path = tmp_path / "history.json"
        path.write_text(await export_history(settings, workflow_id))
        assert await replay_histories(settings, None, [path], None, Console(file=io.StringIO())) == 0

        tampered = json.loads(path.read_text())
        for event in tampered["events"]:
            scheduled = event.get("activityTaskScheduledEventAttributes")
            if scheduled:
                scheduled["activityType"]["name"] = "Something else"
        bad = tmp_path / "tampered.json"
        bad.write_text(json.dumps(tampered))
        report = io.StringIO()
        assert await replay_histories(settings, None, [bad], None, Console(file=report, width=200)) == 1
        assert "Something else" in report.getvalue() or "nondetermin" in report.getvalue().lower()


ESCAPES = re.compile(r"\x1b\][^\x1b]*\x1b\\|\x1b\[[0-9;?]*[A-Za-z]")


async def test_the_live_view_shows_who_waits_where_to_decide_and_a_components_error(
    client: Client, task_queue: str
) -> None:
    settings = stack_settings(client, task_queue)
    out = io.StringIO()
    problems = Problems(Path(".state/riposte-demo.log"))  # only shown: the component below logs to it alone
    component = logging.getLogger("tests.component")
    component.propagate = False
    component.addHandler(problems)
    demo = asyncio.create_task(
        run_demo(
            settings,
            StackOptions(quiet=True),
            auto_approve=False,
            exit_after=True,
            console=Console(file=out, width=100, force_terminal=True),
            problems=problems,
        )
    )
    frame = ""
    try:
        deadline = asyncio.get_running_loop().time() + 90
        while "riposte approve u_" not in frame:  # a person's turn: the demo waits for them
            assert not demo.done(), ESCAPES.sub("", out.getvalue())[-3000:]
            assert asyncio.get_running_loop().time() < deadline, frame
            await asyncio.sleep(0.5)
            frames = ESCAPES.sub("", out.getvalue()).replace("\r", "").split("Riposte demo: ")
            frame = frames[-2] if len(frames) > 2 else ""  # the last complete frame
        component.error("Akku went away")
        await asyncio.sleep(1.0)  # a few refreshes
        frames = ESCAPES.sub("", out.getvalue()).replace("\r", "").split("Riposte demo: ")
        after = frames[-2]
    finally:  # Ctrl-C, as a person would: the demo stops following, sums up and stops its stack
        if not demo.done():
            os.kill(os.getpid(), signal.SIGINT)
        code = await asyncio.wait_for(demo, timeout=60)
        component.removeHandler(problems)
        await terminate_open_workflows(client, task_queue)
    assert code == 1  # stopped before every run had settled
    lines = frame.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    for scenario in ("credential_stuffing", "impossible_travel", "mfa_fatigue", "office_login_burst fp"):
        assert re.search(rf"^{scenario}\s+(splunk|sentinel|elastic|generic)\b", frame, re.MULTILINE), frame
    waiting = re.search(r"Waiting for a decision: (\d+); click Approve or Deny at (\S+)", frame)
    assert waiting and int(waiting.group(1)) > 0, frame
    assert waiting.group(2).rstrip("/").endswith(str(urlsplit(settings.slack_api_url).port))  # the simulator
    actor = re.search(r"decide: riposte approve (u_\w+)", frame)
    assert actor and f"/namespaces/default/workflows/investigation-{actor.group(1)}" in frame  # its run in the UI
    assert len(frame.split("\n")) == len(after.split("\n"))  # a stable height: the view redraws in place
    assert re.search(
        r"^⚠ an error \(details in .state/riposte-demo.log\): tests.component: Akku went away$",
        after,
        re.MULTILINE,
    ), after
