"""The issue's acceptance at full size (make chaos): a 500-person credential-stuffing wave past the
action limit is at most 3 top-level approval messages, and one Approve all acts on each of the 475
approvable people exactly once (the 60-person version runs in make test: tests/digest/test_storm.py)."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from tests.digest.test_storm import wave


@pytest.mark.slow
@pytest.mark.timeout(600)  # about 2 minutes on 2 cores
async def test_a_500_person_wave_is_one_digest_and_one_click(client: Client, task_queue: str) -> None:
    await wave(client, task_queue, 500)
