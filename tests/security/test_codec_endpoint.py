"""The codec endpoint: sealed payloads opened for allowed operators only (tokens or the UI's JWT)."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from gateway.server import build_app
from riposte.codec import EncryptionCodec, parse_keys
from riposte.settings import SettingsError, load_settings
from tests.support.servers import running_app

KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
PSEUDONYM_KEY = base64.b64encode(os.urandom(32)).decode()
UI = "http://temporal-ui.example:8233"
AUDIENCE = "temporal-ui"
ISSUER = "https://idp.example.com/"
ALICE = "alice-codec-token-123456"
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"actor_id": "u_48213", "email": "asha@example.com"}')


def body(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=list(payloads)))


def payloads_of(answer: httpx.Response) -> list[Payload]:
    return list(json_format.Parse(answer.text, Payloads()).payloads)


class IdentityProvider:
    """A signing key and its JWKS, served over loopback HTTP like a real IdP's."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}

    def token(self, key: Any = None, kid: str = "idp-1", **claims: Any) -> str:
        now = int(time.time())
        claims = {"sub": "user-1", "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 300, **claims}
        claims = {k: v for k, v in claims.items() if v is not None}  # None: leave the claim out
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider()


@pytest.fixture(scope="module")
async def jwks_url(idp: IdentityProvider) -> AsyncIterator[str]:
    app = FastAPI()

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return idp.jwks

    async with running_app(app) as url:
        yield f"{url}/.well-known/jwks.json"


@pytest.fixture(scope="module")
async def gateway(jwks_url: str) -> AsyncIterator[str]:
    settings = load_settings(
        temporal_address="127.0.0.1:1",  # never reached: the codec needs no Temporal
        riposte_webhook_token="webhook-token-for-codec-tests",
        riposte_payload_keys=KEYS,
        riposte_pseudonym_key=PSEUDONYM_KEY,
        riposte_codec_tokens=f"alice:{ALICE}",
        riposte_codec_jwks_url=jwks_url,
        riposte_codec_audience=AUDIENCE,
        riposte_codec_issuer=ISSUER,
        riposte_codec_allowed="bob@example.com,ops-subject-7",
        temporal_ui_url=UI,
    )
    async with running_app(build_app(settings)) as url:
        yield url


async def post(url: str, direction: str, content: str, token: str | None) -> httpx.Response:
    """`token` is sent as a bearer token; one with a space in it is sent as the whole header."""
    headers = {"Content-Type": "application/json", "X-Namespace": "default"}
    if token is not None:
        headers["Authorization"] = token if " " in token else f"Bearer {token}"
    async with httpx.AsyncClient() as http:
        return await http.post(f"{url}/codec/{direction}", content=content, headers=headers)


async def test_an_operator_token_opens_what_the_workers_sealed(gateway: str, caplog: pytest.LogCaptureFixture) -> None:
    (sealed,) = await EncryptionCodec(parse_keys(KEYS)).encode([PLAIN])
    with caplog.at_level(logging.INFO, logger="riposte.codec"):
        answer = await post(gateway, "decode", body(sealed), ALICE)
    assert answer.status_code == 200, answer.text
    assert payloads_of(answer) == [PLAIN]
    assert "codec decode: 1 payloads for alice (token)" in caplog.text and "namespace default" in caplog.text
    assert ALICE not in caplog.text

    encoded = await post(gateway, "encode", body(PLAIN), ALICE)
    (resealed,) = payloads_of(encoded)
    assert b"asha" not in resealed.SerializeToString()
    assert await EncryptionCodec(parse_keys(KEYS)).decode([resealed]) == [PLAIN]


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [
        (None, 401, "no bearer credential"),
        (f"Basic {base64.b64encode(b'alice:' + ALICE.encode()).decode()}", 401, "no bearer credential"),
        ("mallory-guessed-token-0000", 403, "unknown token"),
        (ALICE[:-1], 403, "unknown token"),
    ],
)
async def test_without_a_valid_operator_token_nothing_is_opened(
    gateway: str, caplog: pytest.LogCaptureFixture, token: str | None, status: int, reason: str
) -> None:
    (sealed,) = await EncryptionCodec(parse_keys(KEYS)).encode([PLAIN])
    with caplog.at_level(logging.WARNING, logger="riposte.codec"):
        answer = await post(gateway, "decode", body(sealed), token)
    assert answer.status_code == status and answer.json() == {"error": reason}
    assert "asha" not in answer.text
    assert f"codec decode refused for 127.0.0.1: {reason}" in caplog.text


async def test_the_ui_s_access_token_of_an_allowed_person_opens_payloads(gateway: str, idp: IdentityProvider) -> None:
    (sealed,) = await EncryptionCodec(parse_keys(KEYS)).encode([PLAIN])
    answer = await post(gateway, "decode", body(sealed), idp.token(email="Bob@example.com", email_verified=True))
    assert answer.status_code == 200, answer.text
    assert payloads_of(answer) == [PLAIN]
    by_subject = await post(gateway, "decode", body(sealed), idp.token(sub="ops-subject-7"))
    assert by_subject.status_code == 200, by_subject.text


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("not allowed", "carol@example.com is not allowed to decode payloads"),
        ("email not verified", "user-1 is not allowed to decode payloads (email not verified)"),
        ("email_verified as a string", "user-1 is not allowed to decode payloads (email not verified)"),
        ("wrong issuer", "invalid token (InvalidIssuerError)"),
        ("no issuer", "invalid token (MissingRequiredClaimError)"),
        ("no audience", "invalid token (MissingRequiredClaimError)"),
        ("expired", "invalid token (ExpiredSignatureError)"),
        ("wrong audience", "invalid token (InvalidAudienceError)"),
        ("other key, same kid", "invalid token (InvalidSignatureError)"),
        ("unknown kid", "token key not trusted (PyJWKClientError)"),
        ("alg none", "token key not trusted (PyJWKClientError)"),
    ],
)
async def test_forged_expired_or_foreign_ui_tokens_are_refused(
    gateway: str, idp: IdentityProvider, case: str, reason: str
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = {
        "not allowed": lambda: idp.token(email="carol@example.com", email_verified=True),
        "email not verified": lambda: idp.token(email="bob@example.com", email_verified=False),
        "email_verified as a string": lambda: idp.token(email="bob@example.com", email_verified="true"),
        "wrong issuer": lambda: idp.token(sub="ops-subject-7", iss="https://other-idp.example.com/"),
        "no issuer": lambda: idp.token(sub="ops-subject-7", iss=None),
        "no audience": lambda: idp.token(sub="ops-subject-7", aud=None),
        "expired": lambda: idp.token(email="bob@example.com", exp=int(time.time()) - 60),
        "wrong audience": lambda: idp.token(email="bob@example.com", aud="another-app"),
        "other key, same kid": lambda: idp.token(key=other, email="bob@example.com"),
        "unknown kid": lambda: idp.token(key=other, kid="mallory", email="bob@example.com"),
        "alg none": lambda: jwt.encode({"sub": "bob@example.com", "aud": AUDIENCE}, "", algorithm="none"),
    }[case]()
    (sealed,) = await EncryptionCodec(parse_keys(KEYS)).encode([PLAIN])
    answer = await post(gateway, "decode", body(sealed), token)
    assert answer.status_code == 403 and answer.json() == {"error": reason}


async def test_the_temporal_ui_origin_passes_cors_and_others_do_not(gateway: str) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with httpx.AsyncClient() as http:
        ui = await http.options(f"{gateway}/codec/decode", headers={"Origin": UI, **preflight})
        evil = await http.options(f"{gateway}/codec/decode", headers={"Origin": "https://evil.example", **preflight})
    assert ui.status_code == 200 and ui.headers["access-control-allow-origin"] == UI
    assert "authorization" in ui.headers["access-control-allow-headers"].lower()
    assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers


async def test_bad_bodies_and_payloads_that_do_not_open_are_4xx(gateway: str) -> None:
    codec = EncryptionCodec(parse_keys(KEYS))
    (sealed,) = await codec.encode([PLAIN])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    (foreign,) = await EncryptionCodec(parse_keys(f"k9:{base64.b64encode(os.urandom(32)).decode()}")).encode([PLAIN])
    assert (await post(gateway, "decode", "{not json", ALICE)).status_code == 400
    assert (await post(gateway, "decode", '{"payloads": 3}', ALICE)).status_code == 400
    answer = await post(gateway, "decode", body(tampered), ALICE)
    assert answer.status_code == 422 and "tampered" in answer.json()["error"]
    answer = await post(gateway, "decode", body(foreign), ALICE)
    assert answer.status_code == 422 and "k9" in answer.json()["error"]
    assert (await post(gateway, "decode", body(PLAIN), ALICE)).status_code == 200  # not sealed: passes as is
    huge = body(Payload(metadata={"encoding": b"json/plain"}, data=b"x" * (5 * 1024 * 1024)))
    assert (await post(gateway, "decode", huge, ALICE)).status_code == 413


async def test_without_encryption_there_is_no_codec_endpoint() -> None:
    settings = load_settings(temporal_address="127.0.0.1:1", riposte_webhook_token="webhook-token-for-codec-tests")
    async with running_app(build_app(settings)) as url:
        answer = await post(url, "decode", body(PLAIN), ALICE)
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"riposte_payload_keys": KEYS}, "RIPOSTE_PSEUDONYM_KEY"),
        ({"riposte_payload_keys": KEYS, "riposte_pseudonym_key": "short"}, "RIPOSTE_PSEUDONYM_KEY"),
        ({"riposte_codec_tokens": "alice"}, "RIPOSTE_CODEC_TOKENS"),
        ({"riposte_codec_tokens": "alice:short"}, "RIPOSTE_CODEC_TOKENS"),
        (
            {"riposte_codec_jwks_url": "https://idp.example.com/jwks", "riposte_codec_issuer": ISSUER},
            "RIPOSTE_CODEC_AUDIENCE",
        ),
        (
            {"riposte_codec_jwks_url": "https://idp.example.com/jwks", "riposte_codec_audience": AUDIENCE},
            "RIPOSTE_CODEC_ISSUER",
        ),
        (
            {
                "riposte_codec_jwks_url": "http://idp.example.com/jwks",
                "riposte_codec_audience": AUDIENCE,
                "riposte_codec_issuer": ISSUER,
            },
            "RIPOSTE_CODEC_JWKS_URL",
        ),
    ],
)
def test_codec_settings_are_checked_at_start(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(**overrides)
