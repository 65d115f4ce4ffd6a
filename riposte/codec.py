"""Payload encryption: histories at rest on a shared cluster hold no actor ids, emails or IPs in clear.

AES-256-GCM per payload, the key chosen by id so keys rotate: new payloads are sealed with the
first key of `RIPOSTE_PAYLOAD_KEYS`, old ones open with whichever key id they name. The codec
runs in every worker, gateway and CLI (through `make_client`) and behind the gateway's codec
endpoint, so the Temporal UI can show decrypted payloads to the operators allowed to see them.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecKeyError(Exception):
    """A payload names a key this process does not hold (or a key setting is malformed)."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """`kid1:<base64 32 bytes>,kid0:<base64 32 bytes>`: the first is used to encrypt."""
    keys: dict[str, bytes] = {}
    for part in [p.strip() for p in spec.replace(" ", ",").split(",") if p.strip()]:
        kid, sep, encoded = part.partition(":")
        if not sep or not kid:
            raise CodecKeyError("each key is <key id>:<base64 of 32 random bytes>")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise CodecKeyError(f"key {kid}: not base64") from None
        if len(key) != 32:
            raise CodecKeyError(f"key {kid}: must be 32 bytes (AES-256), got {len(key)}")
        keys[kid] = key
    return keys


def parse_tokens(spec: str) -> dict[str, str]:
    """The codec endpoint's operator tokens, `alice:tok1,bob:tok2` -> {token: operator name}."""
    tokens: dict[str, str] = {}
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        name, sep, token = part.partition(":")
        if not sep or not name or len(token) < 16:
            raise CodecKeyError("each entry is <operator>:<token of 16+ characters>")
        tokens[token] = name
    return tokens


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise CodecKeyError("no payload key")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = next(iter(keys))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = self._keys[self._active].encrypt(nonce, payload.SerializeToString(), self._active.encode())
            sealed.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self._active.encode()}, data=nonce + data))
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)  # written before encryption was switched on
                continue
            kid = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._keys.get(kid)
            if cipher is None:
                raise CodecKeyError(f"payload sealed with key {kid!r}, which this process does not hold")
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], kid.encode())
            opened.append(Payload.FromString(plain))
        return opened
