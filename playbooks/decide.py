"""From findings to a decision: score, band, guards. Pure: same input, same answer.

Several findings about one person combine as independent evidence,
`100 * (1 - prod(1 - s_i / 100))`: a second detection always raises the score and never
lowers it, and no pile of weak signals passes 100. The playbook of the strongest finding
drives the response; guards then make it safer, never more aggressive.
"""

from __future__ import annotations

from collections.abc import Iterable

from playbooks.scoring import score_finding
from riposte.models.common import ActionKind, DetectionType, Response, Severity
from riposte.models.evidence import UserRecord
from riposte.models.playbook import ApprovalOption, Band, Guards, Playbook
from riposte.models.runs import Assessment, EvaluationInput, Factor, Finding

RANK = {Response.OBSERVE: 0, Response.NOTIFY: 1, Response.APPROVE: 2, Response.ACT: 3}
SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
NEVER_AUTOMATIC = {DetectionType.ADMIN_ELEVATION, DetectionType.DORMANT_ACCOUNT}
REVOKE_ROLE = ApprovalOption(
    id="revoke_role", label="Revoke the role", actions=[ActionKind.REVOKE_ROLE], style="danger", confirm=True
)
DISMISS = ApprovalOption(id="dismiss", label="Dismiss as benign", actions=[])


def approve_option(actions: list[ActionKind]) -> ApprovalOption:
    """The default 'do it' button for a band's actions (destructive: it asks to confirm)."""
    label = ("Approve: " + ", ".join(a.value.replace("_", " ") for a in actions))[:75]
    return ApprovalOption(id="approve", label=label, actions=actions, style="danger", confirm=True)


def default_options(actions: list[ActionKind]) -> list[ApprovalOption]:
    """What a person is offered when the playbook names no options: the actions, or dismiss.
    An escalation with nothing proposed (e.g. the action limit reached on a notify-only band)
    offers a lock."""
    return [approve_option(actions or [ActionKind.LOCK]), DISMISS]


def offer_option(actions: list[ActionKind]) -> ApprovalOption:
    """The button an FYI offers for the band above it: 'Lock and revoke sessions'."""
    names = [a.value.replace("_", " ") for a in actions]
    label = (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]).capitalize()
    label = label.replace("mfa", "MFA")
    return ApprovalOption(id="approve", label=label[:75], actions=actions, style="danger", confirm=True)


def offer(playbook: Playbook, band: Band, user: UserRecord | None, role: str | None) -> list[ApprovalOption]:
    """What a notify band's FYI offers: the next stronger band (its options, or its actions as one
    button) and a dismiss. Nothing when no band above acts, or all it would do is already done
    (or cannot be done: revoking a role needs the role)."""
    stronger = [
        b for b in playbook.bands[: playbook.bands.index(band)] if b.response in (Response.APPROVE, Response.ACT)
    ]
    if band.response is not Response.NOTIFY or not stronger:
        return []
    above = stronger[-1]  # bands are listed from the highest down: the last stronger one is next above
    if above.options:
        options = list(above.options)
    else:
        actions = [a for a in above.actions if not (a is ActionKind.LOCK and user and user.status == "locked")]
        if not actions:
            return []
        options = [offer_option(actions)]
    options = [o for o in options if role or ActionKind.REVOKE_ROLE not in o.actions]
    if not any(o.actions for o in options):
        return []
    return options if any(not o.actions for o in options) else [*options, DISMISS]


def response_rank(response: Response) -> int:
    return RANK[response]


def band_for(playbook: Playbook, score: float) -> Band:
    return next(b for b in playbook.bands if score >= b.min_score)


def combine(scores: list[float]) -> float:
    remaining = 1.0
    for s in scores:
        remaining *= 1 - min(max(s, 0.0), 100.0) / 100
    return round(100 * (1 - remaining), 1)


def protection(actor_id: str, user: UserRecord | None, guards: Guards, everywhere: Iterable[str] = ()) -> str | None:
    """Why this person is never acted on automatically, or None. Ids compare case-insensitively;
    `everywhere` is the deployment's own list (RIPOSTE_PROTECTED_ACTORS) on top of the playbook's."""
    protected = {a.lower() for a in (*guards.protected_actor_ids, *everywhere)}
    if actor_id.lower() in protected:
        return f"{actor_id} is a protected account (break-glass)"
    if user is not None:
        roles = sorted(set(user.roles) & set(guards.protected_roles))
        if roles:
            return f"holds protected role(s) {', '.join(roles)}"
        if guards.protect_privileged and user.privileged:
            return "privileged account"
    return None


def evaluate(inp: EvaluationInput) -> Assessment:
    findings = [f for f in inp.findings if f.evidence.actor_id == inp.actor_id]
    if not findings:
        raise ValueError(f"no finding about {inp.actor_id}")
    if not any(f.evidence.known for f in findings):
        latest = findings[-1]
        return Assessment(
            score=0,
            factors=[Factor(name="unknown_actor", points=0, detail=f"{inp.actor_id} is unknown to Akku")],
            response=Response.OBSERVE,
            detections=sorted({f.alert.detection for f in findings}),
            severity=latest.alert.severity,
            playbook=latest.playbook.name,
            guard_notes=["unknown actor: nothing to act on"],
        )
    scored = [(score_finding(f, inp.now), f) for f in findings if f.evidence.known]
    _, driver = max(scored, key=lambda item: (item[0][0], item[1].alert.received_at))
    score = combine([s for (s, _), _ in scored])
    factors = _merge_factors(scored, several=len({f.playbook.name for _, f in scored}) > 1)
    playbook = driver.playbook.playbook
    band = band_for(playbook, score)
    response, actions, options = band.response, list(band.actions), list(band.options)
    detections = sorted({f.alert.detection for _, f in scored})
    notes: list[str] = []
    if len(scored) > 1:
        notes.append(f"{len(scored)} findings combined: {', '.join(d.value for d in detections)}")

    user = next((f.evidence.user for _, f in reversed(scored) if f.evidence.user), None)
    role, role_target = _elevation(driver)
    if DetectionType.ADMIN_ELEVATION in detections and role:
        options = options or [REVOKE_ROLE, DISMISS]
        actions = actions or [ActionKind.REVOKE_ROLE]

    guarded = protection(inp.actor_id, user, playbook.guards, inp.protected_actor_ids)
    if response is Response.ACT and guarded:
        response = Response.APPROVE
        notes.append(f"{guarded}: never acted on automatically, a person decides")
    if response is Response.ACT and set(detections) & NEVER_AUTOMATIC:
        response = Response.APPROVE
        notes.append("this detection always needs a person (manual verification)")
    if user is not None and user.status == "locked" and ActionKind.LOCK in actions:
        actions = [a for a in actions if a is not ActionKind.LOCK]
        notes.append("account already locked in Akku: not locking again")
        if response is Response.ACT and not actions:
            response = Response.NOTIFY
    if response is Response.APPROVE and not options and actions:
        options = default_options(actions)
    limit = playbook.guards.auto_action_limit
    return Assessment(
        score=min(100.0, score),
        factors=factors,
        response=response,
        actions=actions if response in (Response.ACT, Response.APPROVE) else [],
        options=options if response is Response.APPROVE else [],
        detections=detections,
        severity=max((f.alert.severity for _, f in scored), key=lambda s: SEVERITY_RANK[s]),
        playbook=driver.playbook.name,
        guard_notes=notes,
        protected=guarded is not None,
        action_limit=limit.max_actions,
        action_window_seconds=limit.window.total_seconds(),
        role=role,
        role_target=role_target,
        offer=offer(playbook, band, user, role) if response is Response.NOTIFY else [],
    )


def _merge_factors(scored: list[tuple[tuple[float, list[Factor]], Finding]], *, several: bool) -> list[Factor]:
    merged: list[Factor] = []
    for (_, factors), finding in scored:
        for factor in factors:
            name = f"{finding.playbook.name}:{factor.name}" if several else factor.name
            merged.append(factor.model_copy(update={"name": name}))
    return sorted(merged, key=lambda f: -f.points)


def _elevation(finding: Finding) -> tuple[str | None, str | None]:
    admin = finding.evidence.admin
    if admin is None:
        return None, None
    new = [c for c in admin.recent if c.role not in admin.roles_assigned_before]
    if not new:
        return None, None
    return new[-1].role, new[-1].target_id
