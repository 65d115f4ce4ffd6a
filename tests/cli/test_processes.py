"""`riposte dev`, `demo` and `simulate akku` as real processes: up, serving, a clean Ctrl-C, and
the components' log lines in a file under the state folder rather than on the terminal."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from cli.rig import REPO, clean_env, free_port, terminate_open_workflows

RIPOSTE = str(Path(sys.executable).with_name("riposte"))


async def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            assert proc.poll() is None, f"exited early with {proc.returncode}"
            try:
                answer = await http.get(url)
                if answer.status_code < 500:
                    return answer
            except httpx.HTTPError:
                pass
            assert asyncio.get_running_loop().time() < deadline, f"{url} never answered"
            await asyncio.sleep(0.2)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 30) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_simulate_akku_serves_a_scenario_with_faults_from_the_start() -> None:
    port = free_port()
    env = clean_env(AKKU_API_KEY="sim-key")
    proc = subprocess.Popen(
        [
            RIPOSTE,
            "simulate",
            "akku",
            "--port",
            str(port),
            "--scenario",
            "credential_stuffing",
            "--fault-rate",
            "1",
            "--fault-kinds",
            "429",
            "--retry-after",
            "3",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}/_sim/scenarios", proc)
        async with httpx.AsyncClient() as http:
            limited = await http.get(
                f"http://127.0.0.1:{port}/api/v1/users/u_10001", headers={"Authorization": "Bearer sim-key"}
            )
            assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
            await http.delete(f"http://127.0.0.1:{port}/_sim/faults")
            events = await http.get(
                f"http://127.0.0.1:{port}/api/v1/auth-events",
                params={"since": "2000-01-01T00:00:00.000Z", "event_type": "mfa.failure", "limit": 1000},
                headers={"Authorization": "Bearer sim-key"},
            )
            assert len({e["actor_id"] for e in events.json()["events"]}) >= 24  # dozens of accounts
    finally:
        assert stop(proc) in (0, -signal.SIGINT, 130)


async def test_riposte_dev_brings_everything_up_and_ctrl_c_stops_all_of_it(tmp_path: Path) -> None:
    temporal, ui, gateway, akku, slack = (free_port() for _ in range(5))
    env = clean_env(
        RIPOSTE_HTTP_PORT=str(gateway),
        AKKU_BASE_URL=f"http://127.0.0.1:{akku}/api",
        SLACK_API_URL=f"http://127.0.0.1:{slack}/api/",
        RIPOSTE_STATE_DIR=str(tmp_path),
    )
    proc = subprocess.Popen(
        [RIPOSTE, "dev", "--temporal-port", str(temporal), "--ui-port", str(ui)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        ready = await wait_http(f"http://127.0.0.1:{gateway}/readyz", proc)
        assert ready.status_code == 200
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{ui}/")).status_code == 200  # the Temporal UI
            assert (await http.get(f"http://127.0.0.1:{slack}/")).status_code == 200  # the Slack simulator
            assert (await http.get(f"http://127.0.0.1:{akku}/_sim/scenarios")).status_code == 200
        assert (tmp_path / "temporal.db").exists()  # runs survive a restart of `riposte dev`
    finally:
        code = stop(proc)
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert code == 0, output[-3000:]
    assert "RIPOSTE_WEBHOOK_TOKEN" in output  # the generated secrets are printed for the operator
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / "temporal.db")], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "the Temporal dev server outlived `riposte dev`"


LOG_LINE = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b|temporalio|uvicorn")


def stack_env(client: Client, task_queue: str, state: Path, **extra: str) -> dict[str, str]:
    """A stack on free ports against the test Temporal server, its own task queue and state folder."""
    return clean_env(
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=task_queue,
        TEMPORAL_UI_URL="http://127.0.0.1:8233",
        RIPOSTE_HTTP_PORT=str(free_port()),
        AKKU_BASE_URL=f"http://127.0.0.1:{free_port()}/api",
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
        RIPOSTE_PLAYBOOKS_DIR=str(REPO / "playbooks"),
        RIPOSTE_STATE_DIR=str(state),
        **extra,
    )


@pytest.mark.timeout(360)
async def test_riposte_demo_keeps_log_lines_in_a_file_and_tells_its_story_on_the_terminal(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    log = tmp_path / "riposte-demo.log"
    screen = tmp_path / "screen.txt"
    sizes: list[int] = []
    try:
        with screen.open("wb") as out:
            proc = subprocess.Popen(
                [RIPOSTE, "demo", "--auto-approve", "--exit"],
                env=stack_env(client, task_queue, tmp_path, COLUMNS="100"),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = asyncio.get_running_loop().time() + 300
                while proc.poll() is None:  # the log grows while the runs proceed
                    assert asyncio.get_running_loop().time() < deadline, "the demo never ended"
                    if log.exists() and (not sizes or log.stat().st_size != sizes[-1]):
                        sizes.append(log.stat().st_size)
                    await asyncio.sleep(0.5)
            finally:
                if proc.poll() is None:
                    stop(proc)
    finally:
        await terminate_open_workflows(client, task_queue)
    output = screen.read_text()
    assert proc.returncode == 0, output[-3000:]  # every attack got its response, the false positives none
    assert len(sizes) >= 3 and sizes == sorted(sizes), sizes
    logged = log.read_text()
    assert "temporalio.activity" in logged and "riposte.gateway" in logged  # the worker's and gateway's lines
    raw = [line for line in output.splitlines() if LOG_LINE.search(line)]
    assert raw == [], raw[:5]  # not one log line on the terminal
    assert f"Logs of this run: {log}" in output  # where they went
    assert "Riposte demo: 10/10 scenarios settled" in output  # the live view's last frame
    for name, source in (
        ("credential_stuffing", "splunk"),
        ("impossible_travel", "sentinel"),
        ("vpn_switch fp", "sentinel"),
    ):
        assert re.search(rf"^{name}\s+{source}\s+\d+\s+\S", output, re.MULTILINE), name
    assert "what happened" in output and "office_login_burst" in output  # the summary
    assert max(len(line) for line in output.splitlines() if not line.startswith("Logs")) <= 100


@pytest.mark.parametrize("verbose", [False, True])
async def test_riposte_dev_names_its_log_file_and_keeps_log_lines_off_the_terminal_unless_verbose(
    client: Client, task_queue: str, tmp_path: Path, verbose: bool
) -> None:
    env = stack_env(client, task_queue, tmp_path, COLUMNS="240")
    proc = subprocess.Popen(
        [RIPOSTE, "dev", *(["--verbose"] if verbose else [])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_http(f"http://127.0.0.1:{env['RIPOSTE_HTTP_PORT']}/readyz", proc)
        async with httpx.AsyncClient() as http:  # something for the gateway to log
            answer = await http.post(f"http://127.0.0.1:{env['RIPOSTE_HTTP_PORT']}/webhooks/generic", json={})
            assert answer.status_code == 401
    finally:
        code = stop(proc)
        await terminate_open_workflows(client, task_queue)
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert code == 0, output[-3000:]
    log = tmp_path / "riposte-dev.log"
    assert re.search(rf"Logs\s+.*{re.escape(str(log))}", output), output[-3000:]  # in the banner
    assert f"stopped. Logs: {log}" in output
    logged = log.read_text()
    assert "riposte.logs: log of this run" in logged and "temporalio" in logged
    raw = [line for line in output.splitlines() if LOG_LINE.search(line)]
    if verbose:
        assert any("riposte.logs: log of this run" in line for line in raw), output[-3000:]
    else:
        assert raw == [], raw[:5]


@pytest.mark.parametrize("command", ["demo", "dev"])
async def test_a_component_that_fails_is_named_in_one_line_pointing_at_the_log_file(
    client: Client, task_queue: str, tmp_path: Path, command: str
) -> None:
    env = stack_env(client, task_queue, tmp_path, COLUMNS="240")
    with socket.socket() as taken:  # the gateway's port, already in use
        taken.bind(("127.0.0.1", int(env["RIPOSTE_HTTP_PORT"])))
        taken.listen()
        try:
            done = subprocess.run(
                [RIPOSTE, command, "--exit"] if command == "demo" else [RIPOSTE, command],
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
            )
        finally:
            await terminate_open_workflows(client, task_queue)
    log = tmp_path / f"riposte-{command}.log"
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert re.search(rf"stopped by an error: .*address already in use.* \(details in {re.escape(str(log))}\)", output)
    assert "Traceback" not in output  # that is in the file
    assert "Traceback" in log.read_text() and "address already in use" in log.read_text()
