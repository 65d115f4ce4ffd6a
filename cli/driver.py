"""Driving a running stack the way the outside world does: scenarios, SIEM alerts, clicks.

Shared by `riposte demo`, the end-to-end tests, the history recorder and the benchmarks,
so they all exercise the same real path: the Akku simulator's scenario API, the webhook
gateway (in each SIEM's own format, authenticated as that SIEM would), Temporal queries,
and signed clicks through the Slack simulator.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from cli.stack import Stack
from riposte.models.runs import STATUS, AlertRunOutcome, InvestigationStatus

SETTLED = {"acted", "approved", "dismissed", "notified", "observed", "timed_out", "dry_run", "closed"}


class DriveError(Exception):
    """The stack did not behave as the scenario needs (the message says what it answered)."""


@dataclass(frozen=True)
class Fired:
    scenario: str
    source: str
    facts: dict[str, Any]
    alert_workflow_id: str
    status: str  # started | duplicate
    sent_at: datetime


def simulator_root(url: str | None) -> str:
    """The Akku simulator's root (its API lives under /api, its controls under /_sim)."""
    if not url:
        raise DriveError("no local Akku simulator in this stack")
    return url.rstrip("/").removesuffix("/api")


async def load_scenario(http: httpx.AsyncClient, stack: Stack, name: str, **body: Any) -> dict[str, Any]:
    answer = await http.post(f"{simulator_root(stack.akku_url)}/_sim/scenarios/{name}", json=body or None)
    if answer.status_code != 200:
        raise DriveError(f"Akku simulator refused scenario {name}: {answer.status_code} {answer.text[:300]}")
    facts: dict[str, Any] = answer.json()
    return facts


async def deliver(
    http: httpx.AsyncClient, stack: Stack, source: str, facts: dict[str, Any], *, alert_id: str | None = None
) -> httpx.Response:
    """POST the scenario's alert to the gateway as `source` would send it."""
    from gateway.sources import samples

    url, body, headers = samples.delivery(source, facts, stack.settings, stack.gateway_url, alert_id=alert_id)
    return await http.post(url, content=body, headers=headers)


async def fire_scenario(
    stack: Stack, scenario: str, *, source: str = "generic", http: httpx.AsyncClient | None = None
) -> Fired:
    async with _http(http) as client:
        facts = await load_scenario(client, stack, scenario)
        sent_at = datetime.now(UTC)
        answer = await deliver(client, stack, source, facts)
    if answer.status_code != 202:
        raise DriveError(f"gateway answered {answer.status_code}: {answer.text[:300]}")
    payload: dict[str, Any] = answer.json()
    entry = (payload.get("runs") or [payload])[0]
    return Fired(scenario, source, facts, entry["workflow_id"], entry["status"], sent_at)


async def alert_outcome(client: Client, workflow_id: str, *, timeout: float = 60) -> AlertRunOutcome:
    handle = client.get_workflow_handle(workflow_id, result_type=AlertRunOutcome)

    async def result() -> AlertRunOutcome:
        while True:
            try:
                outcome: AlertRunOutcome = await handle.result()
                return outcome
            except RuntimeError as exc:
                # the time-skipping test server's long poll can end on a page without the run's
                # close (the client then says so): ask again
                if "No completion event found" not in str(exc):
                    raise
                await asyncio.sleep(0.1)

    return await asyncio.wait_for(result(), timeout)


async def investigation_status(client: Client, workflow_id: str) -> InvestigationStatus | None:
    """The live status, or None once the investigation has closed."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        status: InvestigationStatus = await handle.query(STATUS, result_type=InvestigationStatus)
    except RPCError:
        description = await handle.describe()
        if description.status in (None, WorkflowExecutionStatus.RUNNING):
            raise
        return None
    return status


async def wait_for_stage(client: Client, workflow_id: str, stage: str, *, timeout: float = 30) -> InvestigationStatus:
    """Poll an investigation until it reaches `stage` (decisions are delivered asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await investigation_status(client, workflow_id)
        if status is not None and status.stage == stage:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise DriveError(
                f"{workflow_id} did not reach {stage} in {timeout:.0f}s (at {status.stage if status else 'closed'})"
            )
        await asyncio.sleep(0.1)


async def decide_via_cli(stack: Stack, workflow_id: str, *, approve: bool = True, operator: str = "driver") -> int:
    """Decide a pending approval the way `riposte approve` does."""
    from cli.operators import decide

    return await decide(stack.settings, workflow_id, approve=approve, option=None, operator=operator)


async def click(
    http: httpx.AsyncClient, stack: Stack, workflow_id: str, request_id: str, option_id: str, user_id: str
) -> httpx.Response:
    """Click a button of the approval message in the Slack simulator (a signed block_actions POST)."""
    if not stack.slack_url:
        raise DriveError("no local Slack simulator in this stack")
    return await http.post(
        f"{stack.slack_url.rstrip('/')}/_sim/click",
        json={"workflow_id": workflow_id, "request_id": request_id, "option_id": option_id, "user_id": user_id},
    )


DIGEST_RECLICK_SECONDS = 1.0


async def click_digests(http: httpx.AsyncClient, stack: Stack, choice: str, clicked: set[str]) -> None:
    """Click Approve all / Deny all on each approval digest in the Slack simulator, once each: a request
    that joined a digest (workflows/digest.py) has no message of its own to click."""
    from riposte.models.digest import DIGEST_ACTION_PREFIX

    if not stack.slack_url:
        return
    root = stack.slack_url.rstrip("/")
    messages = (await http.get(f"{root}/_sim/messages")).json()["messages"]
    action_id = f"{DIGEST_ACTION_PREFIX}{choice}"
    for message in messages:
        key = f"digest:{message['channel']}:{message['ts']}"
        has_button = any(
            e.get("action_id") == action_id for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
        )
        if key in clicked or not has_button:
            continue
        answer = await http.post(
            f"{root}/_sim/click",
            json={
                "channel": message["channel"],
                "ts": message["ts"],
                "action_id": action_id,
                "user_id": stack.settings.slack_approver_ids[0],
            },
        )
        if answer.status_code == 200:
            clicked.add(key)


async def settle(
    stack: Stack,
    fired: Fired,
    *,
    approve: bool | None = None,
    timeout: float = 60,
    http: httpx.AsyncClient | None = None,
) -> dict[str, InvestigationStatus]:
    """Wait until every investigation of an alert has decided; answer pending approvals if asked.

    approve=True clicks the first option that acts, False the first that does not, None leaves
    approvals pending (they count as settled for this wait). Requests that joined an approval
    digest are decided with its Approve all / Deny all.
    """
    client = stack.client
    loop = asyncio.get_running_loop()
    outcome = await alert_outcome(client, fired.alert_workflow_id, timeout=timeout)
    deadline = loop.time() + timeout
    statuses: dict[str, InvestigationStatus] = {}
    clicked: set[str] = set()
    digests_clicked_at = -DIGEST_RECLICK_SECONDS
    settled: set[str] = set()  # asked no more: each query lands on a worker that may be saturated
    async with _http(http) as web:
        while True:
            pending_work = False
            for workflow_id in outcome.investigations:
                if workflow_id in settled:
                    continue
                try:
                    status = await investigation_status(client, workflow_id)
                except RPCError:  # a saturated worker answers queries late (or not): ask next round
                    pending_work = True
                    continue
                if status is None:
                    settled.add(workflow_id)
                    continue
                statuses[workflow_id] = status
                if status.pending is not None:
                    if approve is None:
                        settled.add(workflow_id)
                        continue
                    pending_work = True
                    request = status.pending
                    if request.request_id in clicked:
                        continue
                    option = next((o for o in request.assessment.options if bool(o.actions) == approve), None)
                    if option is None:
                        raise DriveError(f"{workflow_id}: no option to {'approve' if approve else 'dismiss'}")
                    answer = await click(
                        web, stack, workflow_id, request.request_id, option.id, stack.settings.slack_approver_ids[0]
                    )
                    if answer.status_code == 404:  # still being posted, or a digest stands for it
                        # a digest's Approve all decides the requests in it when clicked; one that
                        # joins later waits for the next click, so the digests are clicked again
                        if loop.time() - digests_clicked_at >= DIGEST_RECLICK_SECONDS:
                            await click_digests(web, stack, "approve" if approve else "deny", set())
                            digests_clicked_at = loop.time()
                        continue
                    if answer.status_code != 200:
                        raise DriveError(f"Slack simulator click: {answer.status_code} {answer.text[:300]}")
                    clicked.add(request.request_id)
                elif status.stage not in SETTLED:
                    pending_work = True
                else:
                    settled.add(workflow_id)
            if not pending_work:
                return statuses
            if loop.time() > deadline:
                stages = {w: s.stage for w, s in statuses.items()}
                raise DriveError(f"investigations did not settle in {timeout:.0f}s: {stages}")
            await asyncio.sleep(0.1)


class _http:
    """Use the caller's HTTP client, or a short-lived one."""

    def __init__(self, http: httpx.AsyncClient | None) -> None:
        self._given = http
        self._own: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        self._own = httpx.AsyncClient(timeout=30)
        return self._own

    async def __aexit__(self, *exc: object) -> None:
        if self._own is not None:
            await self._own.aclose()
