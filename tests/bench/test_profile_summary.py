"""Folding py-spy's collapsed stacks into layers (bench/profile.py)."""

from __future__ import annotations

from bench.profile import summarise

RAW = "\n".join(
    [
        "run (asyncio/runners.py:1);one (bench/interleaved.py:2);post (httpx/_client.py:3) 30",
        "activate (temporalio/worker/workflow_sandbox/_runner.py:4);run (workflows/investigation.py:5) 50",
        "activate (temporalio/worker/workflow_sandbox/_runner.py:4) 20",
        "garbage line",
    ]
)


def test_each_sample_goes_to_the_layer_of_its_innermost_known_frame() -> None:
    shares = dict(summarise(RAW))
    assert shares["HTTP (httpx, httpcore) outside the above"] == 30.0  # the innermost frame is httpx's
    assert shares["workflow code"] == 50.0
    assert shares["workflow sandbox (module re-import, exec per activation)"] == 20.0
    assert abs(sum(shares.values()) - 100.0) < 1e-9


def test_nothing_sampled_is_an_empty_summary() -> None:
    assert summarise("") == []
