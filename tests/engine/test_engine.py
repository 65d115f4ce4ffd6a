"""The whole engine on real parts: alert in through the gateway, decisions out to Akku and Slack."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from cli import driver
from cli.stack import Stack


async def writes(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{driver.simulator_root(stack.akku_url)}/_sim/writes")
    result: list[dict[str, Any]] = answer.json()["writes"]
    return result


async def slack_messages(stack: Stack) -> list[dict[str, Any]]:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{stack.slack_url.rstrip('/')}/_sim/messages")
    result: list[dict[str, Any]] = answer.json()["messages"]
    return result


async def test_mfa_fatigue_resets_mfa_and_forces_a_password_reset(stack: Stack) -> None:
    fired = await driver.fire_scenario(stack, "mfa_fatigue")
    statuses = await driver.settle(stack, fired)
    (status,) = statuses.values()
    assert status.stage == "acted", status
    (actor,) = fired.facts["actor_ids"]
    applied = {(w["actor_id"], w["action"]) for w in await writes(stack) if w["status"] == "applied"}
    assert applied == {(actor, "mfa_reset"), (actor, "password_reset")}
    assert all(w["reference"] == f"investigation-{actor}" for w in await writes(stack))


def _markers(history: WorkflowHistory) -> list[str]:
    """Each marker's kind: the local activity markers, and each patch by its id."""
    found = []
    for e in history.events:
        if e.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        attrs = e.marker_recorded_event_attributes
        if attrs.marker_name == "core_patch":
            found.append(json.loads(attrs.details["patch-data"].payloads[0].data)["id"])
        else:
            found.append(attrs.marker_name)
    return found


def _count(history: WorkflowHistory, kind: EventType.ValueType) -> int:
    return sum(1 for e in history.events if e.event_type == kind)


async def test_an_acted_alert_is_one_workflow_task_and_so_is_its_decision(stack: Stack) -> None:
    """What one alert costs Temporal: the alert run reads Akku and dispatches its one batch in
    local activities and upserts nothing; the investigation decides, takes its permit, applies
    both writes and posts its notice in local activities, all in its first workflow task, and
    sends the score and the decision in one upsert (lean-acting-v1)."""
    fired = await driver.fire_scenario(stack, "mfa_fatigue")
    (investigation,) = await driver.settle(stack, fired)
    await wait_for(lambda: _has_notice(stack, fired.facts["actor_ids"][0]))

    alert = await stack.client.get_workflow_handle(fired.alert_workflow_id).fetch_history()
    assert _count(alert, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
    assert _count(alert, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 0
    # its source IPs read, then its one batch enriched and dispatched
    assert _markers(alert) == [
        "local-dispatch-v1",
        "core_local_activity",
        "core_local_activity",
        "alert-stage-at-start-v1",
    ]
    assert _upserts(alert) == [{"TemporalChangeVersion"}] * 2  # the patches' own, which are not billed

    history = await stack.client.get_workflow_handle(investigation).fetch_history()
    assert _count(history, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 0
    # one patch marker (it implies the earlier ones), then the evaluation, the permit, both writes, the notice
    assert _markers(history) == ["lean-acting-v1", *["core_local_activity"] * 5]
    # started, then the one task that decided and acted (a new task only if it ran past its timeout)
    assert _count(history, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
    billed = [u for u in _upserts(history) if u != {"TemporalChangeVersion"}]
    assert billed == [{"RiposteScore", "RiposteDetection", "RipostePlaybook", "RiposteDecision", "RiposteStage"}]
    applied = [w for w in await writes(stack) if w["reference"] == investigation]
    assert sorted(w["action"] for w in applied) == ["mfa_reset", "password_reset"]


def _upserts(history: WorkflowHistory) -> list[set[str]]:
    return [
        set(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]


async def _has_notice(stack: Stack, actor: str) -> bool:
    return any(
        actor in m.get("text", "") and "Acted automatically" in m.get("text", "") for m in await slack_messages(stack)
    )


async def click(stack: Stack, **body: Any) -> httpx.Response:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        return await http.post(f"{stack.slack_url.rstrip('/')}/_sim/click", json=body)


async def replies(stack: Stack) -> list[str]:
    assert stack.slack_url
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{stack.slack_url.rstrip('/')}/_sim/replies")
    return [r["text"] for r in answer.json()["replies"]]


async def wait_for(predicate: Any, timeout: float = 10) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_admin_elevation_waits_for_a_person_and_revokes_on_approval(stack: Stack) -> None:
    fired = await driver.fire_scenario(stack, "admin_elevation")
    statuses = await driver.settle(stack, fired)  # approvals stay pending
    ((workflow_id, status),) = statuses.items()
    assert status.stage == "waiting_for_approval" and status.pending is not None
    assert {o.id for o in status.pending.assessment.options} >= {"revoke_role", "dismiss"}

    async def posted() -> bool:
        return len(await slack_messages(stack)) == 1

    await wait_for(posted)
    (message,) = await slack_messages(stack)
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert any(b.get("confirm") for b in buttons if "revoke" in b["action_id"])
    assert await writes(stack) == []  # never automatic

    # someone not allowed clicks: refused before the run sees it, explained to them
    refused = await click(stack, workflow_id=workflow_id, option_id="revoke_role", user_id="U0INTRUDER")
    assert refused.status_code == 200
    await wait_for(lambda: _has_reply(stack, "Not recorded"))
    current = await driver.investigation_status(stack.client, workflow_id)
    assert current is not None and current.pending is not None and current.approvals == []

    approved = await click(stack, workflow_id=workflow_id, option_id="revoke_role", user_id="U0ANALYST")
    assert approved.status_code == 200  # Slack got its answer; the decision reaches the run just after

    await driver.wait_for_stage(stack.client, workflow_id, "approved")
    (write,) = await writes(stack)
    assert (write["actor_id"], write["action"], write["role"]) == (
        fired.facts["target_id"],
        "role_revoke",
        "global_admin",
    )
    (message,) = await slack_messages(stack)
    assert not any(b["type"] == "actions" for b in message["blocks"])  # buttons gone
    assert "<@U0ANALYST>" in json_text(message)


async def _has_reply(stack: Stack, text: str) -> bool:
    return any(text in r for r in await replies(stack))


def json_text(message: dict[str, Any]) -> str:
    import json

    return json.dumps(message["blocks"])


async def test_false_positives_end_without_a_write(stack: Stack) -> None:
    for scenario in ("office_login_burst", "vpn_switch"):
        fired = await driver.fire_scenario(stack, scenario)
        statuses = await driver.settle(stack, fired)
        assert statuses and all(s.stage in ("observed", "notified") for s in statuses.values()), statuses
    assert await writes(stack) == []


async def test_the_governor_caps_automatic_locks_and_escalates_the_rest(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        facts = await driver.load_scenario(http, stack, "credential_stuffing", count=30)
        answer = await driver.deliver(http, stack, "generic", facts)
    assert answer.status_code == 202
    fired = driver.Fired(
        "credential_stuffing", "generic", facts, answer.json()["workflow_id"], "started", facts["window_end"]
    )
    statuses = await driver.settle(stack, fired, timeout=90)
    stages = [str(s.stage) for s in statuses.values()]
    assert stages.count("acted") == 25 and stages.count("waiting_for_approval") == 5
    locked = {w["actor_id"] for w in await writes(stack) if w["action"] == "lock" and w["status"] == "applied"}
    assert len(locked) == 25
    escalated = [s for s in statuses.values() if s.pending]
    assert all(
        "automatic-action limit reached" in " ".join(s.pending.assessment.guard_notes) for s in escalated if s.pending
    )
    # an alert about more than 20 people is a storm's shape: its investigations take their permit
    # and write as activities, not local activities (lean-acting-v1 keeps those for small alerts)
    acted = next(w for w, s in statuses.items() if s.stage == "acted")
    history = await stack.client.get_workflow_handle(acted).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled.count("Ask the action governor for a permit") == 1
    assert scheduled.count("Apply response action in Akku") == 2


async def test_a_second_detection_merges_and_never_asks_twice(stack: Stack) -> None:
    dormant = await driver.fire_scenario(stack, "dormant_account")
    first = await driver.settle(stack, dormant)
    ((workflow_id, status),) = first.items()
    assert status.stage == "waiting_for_approval" and status.score is not None
    actor = dormant.facts["actor_ids"][0]
    async with httpx.AsyncClient() as http:
        facts = await driver.load_scenario(http, stack, "impossible_travel", actor_ids=[actor])
        answer = await driver.deliver(http, stack, "generic", facts)
    assert answer.status_code == 202

    async def rescored() -> bool:
        now = await driver.investigation_status(stack.client, workflow_id)
        return now is not None and len(now.detections) == 2

    await wait_for(rescored)
    now = await driver.investigation_status(stack.client, workflow_id)
    assert now is not None and now.score is not None and now.score > status.score
    assert now.pending is not None and now.pending.request_id == status.pending.request_id  # type: ignore[union-attr]
    messages = await slack_messages(stack)
    assert len(messages) == 1 and messages[0]["updates"]  # one request, updated in place


async def test_a_duplicate_delivery_starts_nothing_new_and_unknown_people_are_reported(stack: Stack) -> None:
    facts = {
        "scenario": "mfa_fatigue",
        "rule_name": "MFA push flood",
        "detection": "mfa_fatigue",
        "severity": "high",
        "actor_ids": ["u_doesnotexist"],
        "source_ips": [],
        "window_start": None,
        "window_end": None,
    }
    async with httpx.AsyncClient() as http:
        first = await driver.deliver(http, stack, "generic", facts, alert_id="dup-1")
        second = await driver.deliver(http, stack, "generic", facts, alert_id="dup-1")
    assert first.status_code == second.status_code == 202
    assert second.json()["status"] == "duplicate" and second.json()["run_id"] == first.json()["run_id"]
    outcome = await driver.alert_outcome(stack.client, first.json()["workflow_id"])
    assert outcome.unknown_identities == ["u_doesnotexist"] and outcome.investigations == []


EXPECTED = [
    # scenario, stage after an analyst approves what is asked, Akku actions per account
    ("brute_force", "acted", {"lock", "sessions_revoke"}),
    ("recovery_storm", "approved", {"password_reset", "sessions_revoke"}),
    ("impossible_travel", "approved", {"sessions_revoke", "password_reset"}),
    ("dormant_account", "approved", {"lock", "sessions_revoke"}),
    ("low_and_slow", "approved", {"password_reset"}),
]


@pytest.mark.parametrize(("scenario", "stage", "actions"), EXPECTED, ids=[e[0] for e in EXPECTED])
async def test_each_playbook_end_to_end(stack: Stack, scenario: str, stage: str, actions: set[str]) -> None:
    fired = await driver.fire_scenario(stack, scenario)
    statuses = await driver.settle(stack, fired, approve=True)
    decided = {}
    for workflow_id, status in statuses.items():
        if status.stage in ("notified", "observed"):  # a weak member of the group: told, not touched
            continue
        decided[workflow_id] = await driver.wait_for_stage(stack.client, workflow_id, stage)
    assert decided, statuses
    done = await writes(stack)
    for workflow_id in decided:
        actor = workflow_id.removeprefix("investigation-")
        assert {w["action"] for w in done if w["actor_id"] == actor and w["status"] == "applied"} == actions
        assert all(w["reference"] == workflow_id for w in done if w["actor_id"] == actor)


async def test_dry_run_decides_and_records_but_never_writes(client: Any, task_queue: str) -> None:
    from cli.rig import running_stack

    async with running_stack(client, task_queue, riposte_dry_run=True) as dry:
        fired = await driver.fire_scenario(dry, "mfa_fatigue")
        ((_, status),) = (await driver.settle(dry, fired)).items()
        assert status.stage == "dry_run"
        (decision,) = status.decisions
        assert {r.status for r in decision.results} == {"dry_run"}
        assert {r.action.value for r in decision.results} == {"reset_mfa", "force_password_reset"}
        assert await writes(dry) == []


async def test_people_seen_from_the_source_ips_join_unless_the_alert_is_a_split_part(stack: Stack) -> None:
    """A brute-force alert naming one person and the attacking IP: the IP's other victims are
    investigated too; a part of a split alert (which names everyone itself) adds nobody."""
    from gateway.starter import split, start_alert_run
    from playbooks.loader import PlaybookSet
    from riposte.models.alert import ActorRef, Alert, IdentityKind, Source
    from riposte.models.common import DetectionType

    async with httpx.AsyncClient(timeout=30) as http:
        facts = await driver.load_scenario(http, stack, "brute_force")
    named = facts["actor_ids"][0]
    alert = Alert(
        source=Source.GENERIC,
        dedup_key=f"ip-expansion-{stack.settings.temporal_task_queue}",
        rule_name=facts["rule_name"],
        detection=DetectionType.BRUTE_FORCE,
        actors=[ActorRef(kind=IdentityKind.AKKU_ID, value=named)],
        source_ips=facts["source_ips"],
        received_at=datetime.now(UTC),
    )
    (part, *_) = split(alert.model_copy(update={"actors": alert.actors * 3}), size=1)
    assert not part.add_actors_seen_from_ips and part.source_ips == alert.source_ips
    playbook = PlaybookSet.load(stack.settings.riposte_playbooks_dir).match(alert)
    assert playbook is not None
    whole = await start_alert_run(stack.client, alert, playbook, stack.settings)
    only_named = await start_alert_run(
        stack.client,
        alert.model_copy(update={"dedup_key": f"{alert.dedup_key}#1/2", "add_actors_seen_from_ips": False}),
        playbook,
        stack.settings,
    )
    everyone = await driver.alert_outcome(stack.client, whole.workflow_id)
    just_one = await driver.alert_outcome(stack.client, only_named.workflow_id)
    assert everyone.actors_resolved == len(facts["actor_ids"]) > 1
    assert just_one.actors_resolved == 1 and just_one.investigations == [f"investigation-{named}"]
