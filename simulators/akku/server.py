"""The Akku simulator: the whole API contract (docs/akku.md) over real HTTP, plus controls.

`/api/...` is the contract, guarded by the API key (simulators/akku/contract.py). `/_sim/...`
drives the simulation (simulators/akku/controls.py): load scenarios, write events, read the
write log (the judge of exactly-once), the request log (the judge of Retry-After) and the
reads log (the judge of "no event skipped"), run background traffic, inject faults
(simulators/akku/faults.py: 429 with Retry-After, 5xx, timeouts, bad JSON, dropped
connections; and on the event stream, 5xx on connect, disconnects, bad lines, stalls).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header

from simulators.akku import controls, scenarios
from simulators.akku.common import SimError, WriteLog, install_error_handlers
from simulators.akku.config import SimulatorConfig
from simulators.akku.contract import events_routes, users_routes
from simulators.akku.faults import FAULT_KINDS, STREAM_FAULT_KINDS, FaultInjector, Faults, set_faults
from simulators.akku.store import Store
from simulators.akku.traffic import Traffic

__all__ = ["FAULT_KINDS", "STREAM_FAULT_KINDS", "SimulatorConfig", "create_app", "run", "scenario_names"]


def scenario_names() -> list[str]:
    return list(scenarios.SCENARIOS)


def create_app(config: SimulatorConfig) -> FastAPI:
    store = Store(
        seed=config.seed,
        now=config.now or datetime.now(UTC),
        fixed_clock=config.now is not None,
        staff=config.staff,
        max_events=config.max_events,
    )
    for name in config.scenarios:
        scenarios.load(store, name)
    if config.faults:
        set_faults(store, Faults.model_validate(config.faults))
    traffic = Traffic(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await traffic.stop("server_stopped")

    app = FastAPI(
        title="Akku simulator",
        version="1",
        docs_url="/_sim/docs",
        openapi_url="/_sim/openapi.json",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.traffic = traffic
    install_error_handlers(app)

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = f"Bearer {config.api_key}"
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise SimError(401, "unauthorized", "missing or invalid API key")

    router = APIRouter(prefix="/api", dependencies=[Depends(authorised)])
    written = WriteLog(store)
    events_routes(router, store, config)
    users_routes(router, store, written)
    app.include_router(router)
    controls.scenario_routes(app, store)
    controls.log_routes(app, store, written)
    controls.fault_routes(app, store)
    controls.traffic_routes(app, traffic)
    app.add_middleware(FaultInjector, store=store, config=config)
    return app


def run(host: str, port: int, config: SimulatorConfig) -> None:
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
