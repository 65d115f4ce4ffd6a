"""The codec endpoint: lets the Temporal UI (and `temporal` CLI) show sealed payloads to operators
who are allowed to see them, and nobody else.

`POST /codec/decode` and `POST /codec/encode` take and answer `{"payloads": [...]}` in Temporal's
JSON form (the remote codec protocol the UI and CLI speak). Served by the gateway only when
payload encryption is on (RIPOSTE_PAYLOAD_KEYS). Every call must carry `Authorization: Bearer`:

- an operator token from RIPOSTE_CODEC_TOKENS (`name:token`, for `temporal --codec-auth`), or
- the Temporal UI's own access token (its `codec.passAccessToken`), a JWT checked against the
  identity provider's JWKS (RIPOSTE_CODEC_JWKS_URL, https), its audience and issuer
  (RIPOSTE_CODEC_AUDIENCE, RIPOSTE_CODEC_ISSUER, both required), whose subject, or whose email
  when the token says `email_verified: true`, is listed in RIPOSTE_CODEC_ALLOWED.

Each answer is logged with who asked and how many payloads; a refusal is logged with why.
The UI calls from the browser, so RIPOSTE_CODEC_ORIGINS (default: the Temporal UI's URL)
is allowed by CORS.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from typing import Literal

import jwt
from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from gateway.errors import GatewayError
from gateway.limits import read_body
from riposte.codec import CodecKeyError, EncryptionCodec, parse_keys, parse_tokens
from riposte.settings import Settings

log = logging.getLogger("riposte.codec")
PREFIX = "/codec"
MAX_BODY = 4 * 1024 * 1024  # a page of history's payloads; the UI batches larger views
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Operator:
    name: str
    via: Literal["token", "jwt"]


class Authoriser:
    def __init__(self, settings: Settings) -> None:
        spec = settings.riposte_codec_tokens.get_secret_value() if settings.riposte_codec_tokens else ""
        self._tokens = parse_tokens(spec)
        self._jwks = jwt.PyJWKClient(settings.riposte_codec_jwks_url) if settings.riposte_codec_jwks_url else None
        self._audience = settings.riposte_codec_audience
        self._issuer = settings.riposte_codec_issuer
        self._allowed = {a.lower() for a in settings.riposte_codec_allowed}

    @property
    def configured(self) -> bool:
        return bool(self._tokens) or self._jwks is not None

    async def operator(self, authorization: str | None) -> Operator:
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Refused(401, "no bearer credential")
        credential = credential.strip()
        for token, name in self._tokens.items():
            if hmac.compare_digest(credential.encode(), token.encode()):
                return Operator(name, "token")
        if self._jwks is None or credential.count(".") != 2:
            raise Refused(403, "unknown token")
        return await asyncio.to_thread(self._check_jwt, credential)

    def _check_jwt(self, credential: str) -> Operator:
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(credential)
            claims = jwt.decode(
                credential,
                key.key,
                algorithms=JWT_ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.PyJWKClientError as exc:
            raise Refused(403, f"token key not trusted ({type(exc).__name__})") from None
        except jwt.InvalidTokenError as exc:
            raise Refused(403, f"invalid token ({type(exc).__name__})") from None
        # an unverified email is whatever the person typed at sign-up: only the subject counts then
        email = str(claims.get("email") or "") if claims.get("email_verified") is True else ""
        subject = str(claims["sub"])
        if not ({subject.lower(), email.lower()} - {""}) & self._allowed:
            unverified = " (email not verified)" if claims.get("email") and not email else ""
            raise Refused(403, f"{email or subject} is not allowed to decode payloads{unverified}")
        return Operator(email or subject, "jwt")


def build_codec_router(settings: Settings) -> APIRouter | None:
    """The codec routes, or None when payload encryption is off (nothing to decode)."""
    if settings.riposte_payload_keys is None:
        return None
    codec = EncryptionCodec(parse_keys(settings.riposte_payload_keys.get_secret_value()))
    authoriser = Authoriser(settings)
    if not authoriser.configured:
        log.warning("codec endpoint refuses everyone: set RIPOSTE_CODEC_TOKENS and/or RIPOSTE_CODEC_JWKS_URL")
    router = APIRouter(prefix=PREFIX)

    async def handle(
        direction: Literal["encode", "decode"], request: Request, authorization: str | None, namespace: str | None
    ) -> Response:
        client = request.client.host if request.client else "?"
        try:
            operator = await authoriser.operator(authorization)
        except Refused as refused:
            log.warning("codec %s refused for %s: %s", direction, client, refused.reason)
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        try:
            body = await read_body(request, MAX_BODY)
        except GatewayError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        try:
            payloads = json_format.Parse(body or b"{}", Payloads())
        except json_format.ParseError as exc:
            return JSONResponse({"error": f"not Temporal payloads JSON: {str(exc)[:200]}"}, status_code=400)
        try:
            if direction == "decode":
                result = await codec.decode(payloads.payloads)
            else:
                result = await codec.encode(payloads.payloads)
        except CodecKeyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        except InvalidTag:
            return JSONResponse({"error": "a payload does not open with its key (tampered?)"}, status_code=422)
        log.info(
            "codec %s: %d payloads for %s (%s) from %s, namespace %s",
            direction,
            len(result),
            operator.name,
            operator.via,
            client,
            namespace or "?",
        )
        return Response(json_format.MessageToJson(Payloads(payloads=result)), media_type="application/json")

    @router.post("/decode")
    async def decode(
        request: Request,
        authorization: str | None = Header(default=None),
        x_namespace: str | None = Header(default=None),
    ) -> Response:
        return await handle("decode", request, authorization, x_namespace)

    @router.post("/encode")
    async def encode(
        request: Request,
        authorization: str | None = Header(default=None),
        x_namespace: str | None = Header(default=None),
    ) -> Response:
        return await handle("encode", request, authorization, x_namespace)

    return router


def mount_codec(app: FastAPI, settings: Settings) -> bool:
    """Add the codec routes and their CORS policy to the gateway; False when encryption is off."""
    router = build_codec_router(settings)
    if router is None:
        return False
    app.include_router(router)
    origins = settings.riposte_codec_origins or ([settings.ui_url] if settings.ui_url else [])
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["POST"],
        allow_headers=["authorization", "content-type", "x-namespace"],
        allow_credentials=True,
    )
    return True
