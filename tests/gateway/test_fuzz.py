"""Property-based fuzzing of the webhook endpoints over real HTTP: whatever arrives, the gateway
answers 4xx with a reason (or 202 for a real alert), never a 5xx, and never starts a run that it
did not acknowledge."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client

from gateway.app import create_app
from riposte.temporal import data_converter
from tests.gateway.test_gateway import PLAYBOOKS, TOKEN, settings_for
from tests.support.servers import running_app

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
# payload-shaped dictionaries: the keys each source looks for, with hostile values
KEYS = [
    "sid",
    "result",
    "search_name",
    "schemaId",
    "data",
    "essentials",
    "context",
    "alerts",
    "alert_id",
    "rule_name",
    "actors",
    "detection",
    "severity",
    "source_ips",
    "entities",
    "incident_arm_id",
    "title",
]
SHAPED = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6)
ENDPOINTS = ["/webhooks/splunk", "/webhooks/sentinel", "/webhooks/elastic", "/webhooks/generic"]


class Served:
    """The gateway in a thread of its own, so sync hypothesis tests can POST to it."""

    def __init__(self, target: str, task_queue: str) -> None:
        self.url = ""
        self.settings = settings_for(task_queue)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._target = target
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self._ready.wait(30)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client = await Client.connect(self._target, data_converter=data_converter())
        async with running_app(create_app(self.settings, client=client, playbooks=PLAYBOOKS)) as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()

    def close(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


@pytest.fixture
def served(client: Client, task_queue: str) -> Iterator[Served]:
    server = Served(client.service_client.config.target_host, task_queue)
    yield server
    server.close()


def post(served: Served, path: str, body: bytes, content_type: str = "application/json") -> httpx.Response:
    query = f"?token={TOKEN}" if path.endswith("splunk") else ""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
    return httpx.post(f"{served.url}{path}{query}", content=body, headers=headers, timeout=30)


def fuzz(served: Served, payloads: Any) -> list[int]:
    statuses: list[int] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(ENDPOINTS), payloads)
    def run(path: str, body: bytes) -> None:
        answer = post(served, path, body)
        statuses.append(answer.status_code)
        assert answer.status_code < 500, (path, body[:200], answer.text)
        if answer.status_code != 202:
            assert answer.json()["error"]["code"] and answer.json()["error"]["message"]

    run()
    return statuses


def runs(served: Served, client_target: str) -> int:
    async def count() -> int:
        client = await Client.connect(client_target)
        queue = served.settings.temporal_task_queue
        return len([e async for e in client.list_workflows(f"TaskQueue = '{queue}'")])

    return asyncio.run(count())


def test_arbitrary_json_never_breaks_the_gateway(served: Served, client: Client) -> None:
    import json

    statuses = fuzz(served, JSON.map(lambda v: json.dumps(v).encode()))
    statuses += fuzz(served, SHAPED.map(lambda v: json.dumps(v).encode()))
    assert runs(served, client.service_client.config.target_host) == statuses.count(202)


def test_arbitrary_bytes_are_refused_with_a_reason(served: Served, client: Client) -> None:
    statuses = fuzz(served, st.binary(max_size=300))
    assert all(s in (400, 422) for s in statuses), sorted(set(statuses))
    assert runs(served, client.service_client.config.target_host) == 0


def test_schemathesis_against_the_gateways_openapi(served: Served, client: Client) -> None:
    import schemathesis

    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here, failing the test

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=served.url, headers=headers)
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.text[:200])

        run()
    accepted = statuses.count(202)
    assert runs(served, client.service_client.config.target_host) == accepted
