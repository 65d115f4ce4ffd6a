"""`riposte dev` and `riposte simulate akku` as real processes: up, serving, and a clean Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from cli.rig import free_port

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


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "AKKU_", "SLACK_", "RIPOSTE_"))}
    env.update(extra)
    return env


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
