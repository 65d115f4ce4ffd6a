"""Payload encryption: sealed at rest, opened by key id, rotated without losing old runs."""

from __future__ import annotations

import base64
import json
import os

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client

from cli import driver
from cli.operators import list_runs
from cli.rig import running_stack
from riposte import search_attributes as sa
from riposte.codec import CodecKeyError, EncryptionCodec, parse_keys
from riposte.settings import SettingsError, load_settings


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


async def test_histories_ids_and_search_attributes_hold_no_person_in_clear(client: Client, task_queue: str) -> None:
    codec_token = "alice-codec-token-123456"
    async with running_stack(
        client,
        task_queue,
        riposte_payload_keys=f"k1:{key()}",
        riposte_pseudonym_key=key(),
        riposte_codec_tokens=f"alice:{codec_token}",
    ) as stack:
        fired = await driver.fire_scenario(stack, "mfa_fatigue")
        ((workflow_id, status),) = (await driver.settle(stack, fired)).items()
        assert status.stage == "acted"  # the engine works unchanged on sealed payloads
        handle = client.get_workflow_handle(workflow_id)
        history = await handle.fetch_history()
        raw = history.to_json()  # as stored
        described = await handle.describe()
        alert = await client.get_workflow_handle(fired.alert_workflow_id).describe()
        # an operator with a codec token reads the run's input back through the gateway
        started = history.events[0].workflow_execution_started_event_attributes.input
        async with httpx.AsyncClient() as http:
            opened = await http.post(
                f"{stack.gateway_url}/codec/decode",
                content=json_format.MessageToJson(started),
                headers={"Authorization": f"Bearer {codec_token}", "Content-Type": "application/json"},
            )
    actor = fired.facts["actor_ids"][0]
    email = fired.facts["emails"][0]
    ip = fired.facts["source_ips"][0]
    assert email not in raw and ip not in raw and actor not in raw
    assert "binary/encrypted" in raw or "YmluYXJ5L2VuY3J5cHRlZA" in raw
    assert actor not in workflow_id and workflow_id.startswith("investigation-p_")
    for execution in (described, alert):
        attributes = json.dumps({k: v for k, v in execution.search_attributes.items()}, default=str)
        assert actor not in attributes and email not in attributes
    assert described.typed_search_attributes.get(sa.ACTOR) == workflow_id.removeprefix("investigation-")
    assert opened.status_code == 200, opened.text
    assert actor in json_format.Parse(opened.text, Payloads()).payloads[0].data.decode()
    # the CLI holds the key: it finds the person's run by the Akku id
    rows = await list_runs(
        stack.settings, actor=actor, detection=None, decision=None, status=None, since=None, limit=10
    )
    assert [r[0] for r in rows] == [workflow_id]
