"""The gateway read as an attacker would: floods, per-source tokens, smuggled query tokens, actor ids
that are not identities, and the Akku paths those ids would become. Real HTTP, real Temporal."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from clients.akku.client import AkkuClient
from clients.akku.errors import AkkuNotFound
from gateway.app import create_app
from gateway.auth import sign
from gateway.config import GatewayConfig, RateLimit, load_config
from gateway.server import RedactQueryTokens
from gateway.sources import samples
from riposte.models.common import ActionKind
from simulators.akku.server import SimulatorConfig
from simulators.akku.server import create_app as akku_app
from tests.gateway.test_gateway import FACTS, PLAYBOOKS, SECRET, TOKEN, Gateway, settings_for
from tests.gateway.test_gateway import gateway as gateway  # the fixture
from tests.support.servers import running_app


def slow(task_queue: str) -> GatewayConfig:
    """The real per-source configuration, with a rate limit of two requests for generic and sentinel."""
    base = load_config(settings_for(task_queue))
    limit = RateLimit(per_second=0.01, burst=2)
    sources = {**base.sources}
    for name in ("generic", "sentinel"):
        sources[name] = base.source(name).model_copy(update={"rate_limit": limit})
    return GatewayConfig(defaults=base.defaults, sources=sources)


async def started_runs(client: Client, task_queue: str) -> list[Any]:
    return [e async for e in client.list_workflows(f"TaskQueue = '{task_queue}'")]


async def test_a_flood_without_valid_credentials_never_starves_real_alerts(client: Client, task_queue: str) -> None:
    app = create_app(settings_for(task_queue), client=client, playbooks=PLAYBOOKS, config=slow(task_queue))
    body = json.dumps(samples.generic_payload(FACTS)).encode()
    async with running_app(app) as url, httpx.AsyncClient() as http:
        json_type = {"Content-Type": "application/json"}
        flood = [
            # signatures by a secret Riposte does not hold, over the very body of a real alert
            *[{**json_type, **sign("whsec_bWFsbG9yeQ==", f"m{i}", int(time.time()), body)} for i in range(5)],
            # a bearer token that is not ours
            *[{**json_type, "Authorization": "Bearer guessed"} for _ in range(5)],
        ]
        codes = [(await http.post(f"{url}/webhooks/generic", content=body, headers=h)).status_code for h in flood]
        sentinel = [
            (
                await http.post(
                    f"{url}/webhooks/sentinel",
                    json=samples.sentinel_payload(FACTS),
                    headers={"Authorization": "Bearer x"},
                )
            ).status_code
            for _ in range(5)
        ]
        assert codes == [401] * 10 and sentinel == [401] * 5
        # a wrong token never has its body read: an oversized one is refused for the token, not the size
        huge = await http.post(
            f"{url}/webhooks/generic",
            content=b"x" * (2 * 1024 * 1024),
            headers={**json_type, "Authorization": "Bearer x"},
        )
        assert huge.status_code == 401
        good = await http.post(
            f"{url}/webhooks/generic", content=body, headers=sign(SECRET, "m-good", int(time.time()), body) | json_type
        )
        assert good.status_code == 202, good.text
        real = await http.post(
            f"{url}/webhooks/sentinel",
            json=samples.sentinel_payload(FACTS),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert real.status_code == 202, real.text


async def test_each_source_takes_its_own_tokens_and_several_while_rotating(client: Client, task_queue: str) -> None:
    settings = settings_for(task_queue, riposte_webhook_token_splunk="splunk-new-7f2 splunk-old-9c1")
    async with running_app(create_app(settings, client=client, playbooks=PLAYBOOKS)) as url:
        gw = Gateway(url, settings, client)
        for token in ("splunk-new-7f2", "splunk-old-9c1"):
            answer = await gw.post(f"/webhooks/splunk?token={token}", samples.splunk_payload(FACTS))
            assert answer.status_code == 202, (token, answer.text)
        shared = await gw.post(f"/webhooks/splunk?token={TOKEN}", samples.splunk_payload(FACTS))
        assert shared.status_code == 401  # Splunk has its own now: the shared token is not Splunk's
        borrowed = await gw.post(
            "/webhooks/sentinel", samples.sentinel_payload(FACTS), {"Authorization": "Bearer splunk-new-7f2"}
        )
        assert borrowed.status_code == 401  # nor is Splunk's token anyone else's
        answer = await gw.post(
            "/webhooks/sentinel", samples.sentinel_payload(FACTS), {"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 202, answer.text


QUERY_TOKENS = [
    f"/webhooks/splunk?token={TOKEN}",
    f"/webhooks/splunk?%74oken={TOKEN}",
    f"/webhooks/splunk?tok%65n={TOKEN}",
    f"/webhooks/splunk?x=1&%74%6F%6B%65%6E={TOKEN}",
    f"/webhooks/splunk?%54OKEN={TOKEN}",
]


@pytest.mark.parametrize("path", QUERY_TOKENS)
async def test_a_percent_encoded_query_token_is_redacted_like_the_plain_one(gateway: Gateway, path: str) -> None:
    if "%54" not in path:  # these spell `token` once decoded: the gateway accepts them
        answer = await gateway.post(path, samples.splunk_payload(FACTS))
        assert answer.status_code == 202, answer.text
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", path, "1.1", 202),
        None,
    )
    RedactQueryTokens().filter(record)
    assert TOKEN not in record.getMessage() and "=[redacted]" in record.getMessage()


NOT_IDENTITIES = [
    ("empty", "   "),
    ("overlong", "u_" + "9" * 300),
    ("NUL", "u_10001\x00"),
    ("newline", "u_10001\nu_10002"),
    ("escape sequence", "u_10001\x1b[2J"),
    ("right-to-left override", "u_\u202e10001"),
    ("dot", "."),
    ("dot dot", ".."),
]


@pytest.mark.parametrize(("case", "value"), NOT_IDENTITIES, ids=[c for c, _ in NOT_IDENTITIES])
async def test_an_actor_id_that_cannot_be_an_identity_is_a_422_and_starts_nothing(
    gateway: Gateway, case: str, value: str
) -> None:
    body = {**samples.generic_payload(FACTS), "actors": [{"id": "u_10001"}, {"id": value}], "source_ips": []}
    answer = await gateway.post("/webhooks/generic", body, {"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 422, (case, answer.text)
    error = answer.json()["error"]
    assert error["code"] == "not_an_alert" and "actor id" in error["message"], error
    # Splunk reads a blank user as no user (that alert goes by its source IP), and a field with
    # several lines as a multivalue field: one id per line, each checked on its own
    if value.strip() and "\n" not in value:
        splunk = samples.splunk_payload(FACTS)
        splunk["result"]["user"] = value
        answer = await gateway.post(f"/webhooks/splunk?token={TOKEN}", splunk)
        assert answer.status_code == 422, (case, answer.text)
    assert await started_runs(gateway.client, gateway.settings.temporal_task_queue) == []


@pytest.fixture
async def akku() -> AsyncIterator[tuple[str, AkkuClient]]:
    sim = akku_app(SimulatorConfig(api_key="akku-hostile-key", seed=3))
    async with running_app(sim) as url, AkkuClient(f"{url}/api", "akku-hostile-key", timeout=2.0) as client:
        yield url, client


@pytest.mark.parametrize("actor_id", ["..", ".", "u_10001/../u_10002", "u_10001?x=1", "u_10001#frag", "%2e%2e"])
async def test_an_odd_actor_id_reaches_akku_as_one_path_segment_and_locks_nobody(
    akku: tuple[str, AkkuClient], actor_id: str
) -> None:
    url, client = akku
    with pytest.raises(AkkuNotFound):
        await client.act(actor_id, ActionKind.LOCK, reason="hostile id", reference="test", idempotency_key="k-hostile")
    async with httpx.AsyncClient() as http:
        writes = (await http.get(f"{url}/_sim/writes")).json()["writes"]
        requests = (await http.get(f"{url}/_sim/requests")).json()["requests"]
    assert writes == []
    assert [(r["method"], r["status"]) for r in requests] == [("POST", 404)]
    # one segment under /v1/users/: never a dot segment that URL parsing resolves away (`..` + `/lock`
    # would be POST /v1/lock; `.` + `/lock` the user called `lock`)
    assert all(r["path"].startswith("/v1/users/") and r["path"] != "/v1/users/lock" for r in requests), requests
