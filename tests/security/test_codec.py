"""Payload encryption: sealed at rest, opened by key id, rotated without losing old runs."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from cli import driver
from riposte.codec import CodecKeyError, EncryptionCodec, parse_keys
from riposte.settings import SettingsError, load_settings
from tests.engine.conftest import running_stack


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_seal_open_and_rotate() -> None:
    old, new = key(), key()
    before = EncryptionCodec(parse_keys(f"k1:{old}"))
    after = EncryptionCodec(parse_keys(f"k2:{new},k1:{old}"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email": "asha@example.com"}')
    (sealed,) = await before.encode([plain])
    assert b"asha" not in sealed.SerializeToString()
    assert await after.decode([sealed]) == [plain]  # rotated: the old key still opens old payloads
    (resealed,) = await after.encode([plain])
    assert resealed.metadata["encryption-key-id"] == b"k2"
    with pytest.raises(CodecKeyError):
        await before.decode([resealed])
    assert await after.decode([plain]) == [plain]  # written before encryption was on


def test_a_malformed_key_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="RIPOSTE_PAYLOAD_KEYS"):
        load_settings(riposte_payload_keys="k1:short")


async def test_histories_hold_no_evidence_in_clear(client: Client, task_queue: str) -> None:
    async with running_stack(client, task_queue, riposte_payload_keys=f"k1:{key()}") as stack:
        fired = await driver.fire_scenario(stack, "mfa_fatigue")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "acted"  # the engine works unchanged on sealed payloads
        raw = (await client.get_workflow_handle(workflow_id).fetch_history()).to_json()  # as stored
    email = fired.facts["emails"][0]
    ip = fired.facts["source_ips"][0]
    assert email not in raw and ip not in raw
    assert "binary/encrypted" in raw or "YmluYXJ5L2VuY3J5cHRlZA" in raw
