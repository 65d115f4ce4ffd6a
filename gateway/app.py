"""The webhook gateway: SIEM alerts in, durable runs started, nothing lost, nothing twice.

Stateless: the only memory is Temporal's (the workflow id is the alert's dedup key), so
any number of gateways can run behind a load balancer. A 202 is sent only after Temporal
accepted the start; when it cannot be reached the answer is 503 with Retry-After, so the
sender retries. A bad request is always a 4xx with a reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from gateway import auth
from gateway.config import GatewayConfig, load_config
from gateway.errors import GatewayError, NotAnAlert, error_response
from gateway.limits import TokenBucket, parse_json, read_body, require_json
from gateway.metrics import GatewayMetrics
from gateway.sources import Delivery, parsers
from gateway.starter import split, start_alert_run
from gateway.temporal import TemporalConnection, TemporalUnavailable
from riposte.models.alert import Alert
from riposte.models.playbook import PlaybookSnapshot
from riposte.settings import Settings

log = logging.getLogger("riposte.gateway")
SOURCES = ("splunk", "sentinel", "elastic", "generic")
RETRY_AFTER = "5"
# Temporal answers worth a 503 + Retry-After (the sender retries); anything else is a 500 with a reason
TRANSIENT = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.UNKNOWN,
    }
)
REQUEST_TIMEOUT = 20.0


class PlaybookMatcher(Protocol):
    def match(self, alert: Alert) -> PlaybookSnapshot | None: ...


class _LazyPlaybooks:
    """Loads the playbook folder on first use (and so reports a broken playbook at the first alert)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._set: PlaybookMatcher | None = None

    def match(self, alert: Alert) -> PlaybookSnapshot | None:
        if self._set is None:
            from playbooks.loader import PlaybookSet

            self._set = PlaybookSet.load(self._settings.riposte_playbooks_dir)
        return self._set.match(alert)


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "alert"
    return f"{where}: {str(first['msg']).removeprefix('Value error, ')}"


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    playbooks: PlaybookMatcher | None = None,
    extra_routers: Sequence[APIRouter] = (),
    config: GatewayConfig | None = None,
) -> FastAPI:
    app = FastAPI(title="Riposte webhook gateway", version="1", docs_url="/docs")
    temporal = TemporalConnection(settings, client)
    conf = config or load_config(settings)
    matcher = playbooks or _LazyPlaybooks(settings)
    metrics = GatewayMetrics()
    buckets = {s: TokenBucket(conf.rate(s).per_second, conf.rate(s).burst) for s in SOURCES}
    parse = parsers()
    app.state.temporal, app.state.metrics, app.state.config = temporal, metrics, conf

    @app.exception_handler(GatewayError)
    async def _gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "invalid_request", str(exc.errors()[0].get("msg", "invalid")) if exc.errors() else "invalid"
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    async def receive(source: str, request: Request) -> JSONResponse:
        metrics.received.labels(source).inc()
        client_host = request.client.host if request.client else "?"
        try:
            answer = await asyncio.wait_for(_receive(source, request), REQUEST_TIMEOUT)
        except GatewayError as exc:
            metrics.answered.labels(source, exc.code).inc()
            level = logging.WARNING if exc.status in (401, 413) else logging.INFO
            log.log(level, "refused %s webhook from %s: %s (%s)", source, client_host, exc.code, exc.message)
            return exc.response()
        except TimeoutError:
            metrics.answered.labels(source, "timeout").inc()
            return error_response(503, "timeout", "took too long; retry", {"Retry-After": RETRY_AFTER})
        return answer

    def take(source: str) -> None:
        wait = buckets[source].take()
        if wait is not None:
            raise GatewayError(
                429, "rate_limited", f"over the {source} rate limit", headers={"Retry-After": str(max(1, round(wait)))}
            )

    async def _receive(source: str, request: Request) -> JSONResponse:
        # who is asking comes first: a flood without valid credentials never spends the source's
        # rate limit (real alerts keep flowing) and, with a token, never has its body read
        message_id: str | None = None
        if source == "generic" and auth.has_signature(request):  # signed over the raw body: read it first
            require_json(request)
            body = await read_body(request, conf.defaults.max_body_bytes)
            message_id = auth.check_signature(request, body, settings)
            take(source)
        else:
            auth.check_token(request, settings, source, allow_query=source == "splunk")
            take(source)
            require_json(request)
            body = await read_body(request, conf.defaults.max_body_bytes)
        payload = parse_json(body, conf.defaults.max_json_depth)
        try:
            alert = parse[source](Delivery(payload, body, datetime.now(UTC), message_id), conf)
        except GatewayError:
            raise
        except ValidationError as exc:  # a value the alert model refuses (an actor id that cannot be one, ...)
            raise NotAnAlert(f"not a {source} alert: {_first_problem(exc)}") from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            # a shape no parser rule foresaw (a list where an object belongs, ...): the sender's to fix
            log.info("unreadable %s payload: %s", source, type(exc).__name__)
            raise NotAnAlert(f"not a {source} alert: a field has the wrong type ({type(exc).__name__})") from None
        snapshot = matcher.match(alert)
        if snapshot is None:
            raise GatewayError(
                422,
                "no_matching_playbook",
                f"no playbook handles detection {alert.detection.value!r} (rule {alert.rule_name!r}); "
                "map the rule name in config/sources.yaml or add a playbook",
            )
        if not alert.actors and not alert.source_ips:
            raise GatewayError(422, "no_actors", "the alert names no person and no source IP")
        runs = []
        try:
            client = await temporal.get()
            for part in split(alert):  # all or nothing for the sender: a retry finds the started parts duplicate
                started_at = time.perf_counter()
                runs.append(await start_alert_run(client, part, snapshot, settings))
                metrics.start_latency.labels(source).observe(time.perf_counter() - started_at)
        except (TemporalUnavailable, RPCError) as exc:
            if isinstance(exc, RPCError) and exc.status not in TRANSIENT:
                # Temporal refused for a reason retrying will not fix (namespace, permissions, ...)
                log.error("Temporal refused to start a %s run: %s %s", source, exc.status.name, exc.message)
                raise GatewayError(
                    500, "temporal_refused", f"Temporal refused the start ({exc.status.name}); see the gateway log"
                ) from None
            raise GatewayError(
                503, "temporal_unavailable", "cannot start the run now; retry", headers={"Retry-After": RETRY_AFTER}
            ) from None
        for run in runs:
            metrics.answered.labels(source, run.status).inc()  # started | duplicate
            log.info("alert %s from %s -> %s (%s)", alert.dedup_key[:64], source, run.workflow_id, run.status)
        if len(runs) == 1:
            return JSONResponse(runs[0].body(), status_code=202)
        return JSONResponse({"runs": [run.body() for run in runs]}, status_code=202)

    def route(source: str) -> None:
        async def endpoint(request: Request) -> JSONResponse:
            return await receive(source, request)

        endpoint.__name__ = f"webhook_{source}"
        body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
        app.post(
            f"/webhooks/{source}",
            status_code=202,
            summary=f"Alert from {source}",
            openapi_extra={"requestBody": body},
            description=f"See docs/siem/{source}.md for the payload and how to authenticate.",
        )(endpoint)

    for name in SOURCES:
        route(name)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if await temporal.ready():
            return JSONResponse({"status": "ready"})
        return error_response(503, "temporal_unavailable", f"Temporal at {settings.target_host} is not reachable")

    @app.get("/metrics")
    async def prometheus() -> Response:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in extra_routers:
        app.include_router(router)
    return app
