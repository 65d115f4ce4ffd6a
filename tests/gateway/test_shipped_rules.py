"""Every shipped rule, fired the way its SIEM fires it, reaches its playbook with its people.

For each file under detections/: its final projection is the field list its header declares;
one result row with those fields becomes the body that SIEM posts (tests/gateway/shipped_rules.py);
the real gateway, with the shipped config/sources.yaml and playbooks, starts an AlertWorkflow on
the test's Temporal server, and the run's input names the rule's detection, playbook and actors.
Changing a projection, a header or a mapping without the others fails here.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from gateway.app import create_app
from playbooks.loader import PlaybookSet
from riposte.models.alert import IdentityKind
from riposte.models.runs import AlertRunInput
from riposte.settings import load_settings
from tests.gateway import shipped_rules as shipped
from tests.support.servers import running_app

TOKEN = "rules-test-token-5e1f"
RULES = shipped.all_rules()
DOCS = shipped.REPO / "docs" / "siem"
PLAYBOOKS = PlaybookSet.load(shipped.REPO / "playbooks")
PATTERNS = (
    "credential-stuffing",
    "brute-force",
    "lockout-cluster",
    "recovery-storm",
    "mfa-push-flood",
    "impossible-travel",
    "dormant-account",
    "admin-elevation",
    "low-and-slow",
)


class Gateway:
    def __init__(self, url: str, client: Client) -> None:
        self.url, self.client = url, client

    async def post(self, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient() as http:
            return await http.post(
                f"{self.url}{path}", content=content, headers={"Content-Type": "application/json", **(headers or {})}
            )

    async def started(self, answer: httpx.Response) -> AlertRunInput:
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "started", answer.text
        handle = self.client.get_workflow_handle(answer.json()["workflow_id"])
        history = await handle.fetch_history()
        attrs = history.events[0].workflow_execution_started_event_attributes
        assert attrs.workflow_type.name == "AlertWorkflow"
        return AlertRunInput.model_validate_json(attrs.input.payloads[0].data)


@pytest.fixture
async def gateway(client: Client, task_queue: str) -> AsyncIterator[Gateway]:
    settings = load_settings(temporal_task_queue=task_queue, riposte_webhook_token=TOKEN)
    # the shipped config/sources.yaml (no `config=`) and the shipped playbooks
    async with running_app(create_app(settings, client=client, playbooks=PLAYBOOKS)) as url:
        yield Gateway(url, client)


def test_every_seed_pattern_has_a_rule_for_every_siem() -> None:
    found = {(r.siem, r.path.stem) for r in RULES}
    assert found == {(siem, p) for siem in shipped.LANGUAGES for p in PATTERNS}


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_the_header_declares_exactly_what_the_final_projection_outputs(rule: shipped.Rule) -> None:
    assert rule.projection() == rule.outputs
    for key in ("rule", "detection", "playbook", "webhook", "outputs"):
        assert rule.header.get(key), f"{rule.id}: the header needs `{key}`"
    assert f"/webhooks/{rule.siem}" in rule.header["webhook"]
    snapshot = PLAYBOOKS.get(rule.header["playbook"])
    assert snapshot is not None and rule.header["detection"] in snapshot.playbook.match.detections


def _check(run: AlertRunInput, rule: shipped.Rule) -> None:
    alert = run.alert
    assert alert.rule_name == rule.header["rule"]
    assert alert.detection.value == rule.header["detection"], rule.id
    assert run.playbook.name == rule.header["playbook"], rule.id
    assert [(a.kind, a.value) for a in alert.actors] == [
        (IdentityKind.AKKU_ID, a) for a in shipped.expected_actors(rule)
    ]
    assert alert.source_ips == shipped.expected_ips(rule)


SPLUNK = [r for r in RULES if r.siem == "splunk"]
SENTINEL = [r for r in RULES if r.siem == "sentinel"]
ELASTIC = [r for r in RULES if r.siem == "elastic"]


@pytest.mark.parametrize("rule", SPLUNK, ids=[r.id for r in SPLUNK])
async def test_splunk_rule_reaches_its_playbook(gateway: Gateway, rule: shipped.Rule) -> None:
    assert rule.header["trigger"] == "for each result"  # the action sends one row per POST
    for multivalue in ("joined", "list"):
        body = json.dumps(shipped.splunk_body(rule, multivalue=multivalue)).encode()
        _check(await gateway.started(await gateway.post(f"/webhooks/splunk?token={TOKEN}", body)), rule)


@pytest.mark.parametrize("rule", SENTINEL, ids=[r.id for r in SENTINEL])
async def test_sentinel_rule_reaches_its_playbook(gateway: Gateway, rule: shipped.Rule) -> None:
    body = json.dumps(shipped.sentinel_body(rule)).encode()
    answer = await gateway.post("/webhooks/sentinel", body, {"Authorization": f"Bearer {TOKEN}"})
    _check(await gateway.started(answer), rule)


@pytest.mark.parametrize("rule", ELASTIC, ids=[r.id for r in ELASTIC])
async def test_elastic_rule_reaches_its_playbook(gateway: Gateway, rule: shipped.Rule) -> None:
    answer = await gateway.post("/webhooks/elastic", shipped.elastic_body(rule), {"Authorization": f"Bearer {TOKEN}"})
    _check(await gateway.started(answer), rule)


# --- the docs show the files as they are ------------------------------------------------------

BEGIN, END = "<!-- rules:begin (generated from detections/) -->", "<!-- rules:end -->"
FENCE = {"spl": "spl", "kql": "kql", "esql": "esql"}


def rules_section() -> str:
    """docs/siem/detections.md's rule listing, as the files make it."""
    parts = [BEGIN]
    for pattern in PATTERNS:
        rules = [r for r in RULES if r.path.stem == pattern]
        header = rules[0].header
        parts.append(f'\n## {pattern} — "{header["rule"]}" → `{header["detection"]}` → `{header["playbook"]}`\n')
        for rule in rules:
            relative = rule.path.relative_to(shipped.REPO)
            fence = FENCE[rule.path.suffix[1:]]  # four backticks: an SPL header is itself a ``` comment
            parts.append(f"[`{relative}`](../../{relative})\n\n````{fence}\n{rule.path.read_text()}````\n")
    parts.append(END)
    return "\n".join(parts)


def test_detections_doc_shows_every_rule_file_as_it_is() -> None:
    doc = (DOCS / "detections.md").read_text()
    assert BEGIN in doc and END in doc
    current = doc[doc.index(BEGIN) : doc.index(END) + len(END)]
    assert current == rules_section(), "run `.venv/bin/python -m tests.gateway.test_shipped_rules` to refresh the doc"


@pytest.mark.parametrize(
    ("doc", "file"),
    [("elastic.md", "elastic/connector-body.mustache"), ("sentinel.md", "sentinel/logic-app-body.json")],
)
def test_setup_docs_show_the_shipped_webhook_bodies(doc: str, file: str) -> None:
    assert (shipped.DETECTIONS / file).read_text().strip() in (DOCS / doc).read_text()


CURLS = [
    ("splunk.md", "brute-force", ["u_10001", "u_10002", "u_10003", "u_10004"]),
    ("sentinel.md", "mfa-fatigue", ["u_10001"]),
    ("elastic.md", "impossible-travel", ["u_10001"]),
    ("generic.md", "mfa-fatigue", ["u_10001"]),
]


@pytest.mark.parametrize(("doc", "playbook", "actors"), CURLS, ids=[c[0] for c in CURLS])
async def test_the_docs_test_curl_starts_the_run_it_promises(
    gateway: Gateway, doc: str, playbook: str, actors: list[str]
) -> None:
    text = (DOCS / doc).read_text()
    command = re.search(r"```bash\n(curl .*?)\n```", text, re.DOTALL)
    assert command, f"{doc} has no curl to test with"
    url = re.search(r"https://riposte\.example(/webhooks/[^\s\"']+)", command.group(1))
    body = re.search(r"-d '(.*?)'$", command.group(1), re.DOTALL)
    assert url and body, f"{doc}: the curl needs a URL and a -d '...' body"
    path = url.group(1).replace("$RIPOSTE_WEBHOOK_TOKEN", TOKEN)
    headers = {} if "?token=" in path else {"Authorization": f"Bearer {TOKEN}"}
    first = await gateway.post(path, body.group(1).encode(), headers)
    run = await gateway.started(first)
    assert run.playbook.name == playbook and [a.value for a in run.alert.actors] == actors
    again = await gateway.post(path, body.group(1).encode(), headers)
    assert again.status_code == 202 and again.json()["status"] == "duplicate"


def _refresh(path: Path) -> None:
    doc = path.read_text()
    head, tail = doc.split(BEGIN)[0], doc.split(END)[1] if END in doc else "\n"
    path.write_text(head + rules_section() + tail)


if __name__ == "__main__":
    _refresh(DOCS / "detections.md")
    sys.stdout.write("docs/siem/detections.md refreshed\n")
