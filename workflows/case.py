"""What an investigation knows about its person: the findings, and what they say.

Findings merge as the latest per detection and playbook; a finding id is taken once (signal-
with-start may deliver it again). The playbook, the user record, the quiet period and the
approval policy all come from the findings. Pure state, used only from workflow code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from riposte.models.evidence import UserRecord
    from riposte.models.playbook import Approval, PlaybookSnapshot
    from riposte.models.runs import Assessment, Finding, RunOptions

SEEN_CAP = 500
DEFAULT_QUIET = timedelta(hours=1)


class Case:
    def __init__(self, actor_id: str, findings: list[Finding], seen: list[str]) -> None:
        self.actor_id = actor_id
        self.findings = findings
        self.seen = seen

    def take(self, finding: Finding) -> bool:
        """True for a finding about this person not seen before (it is remembered)."""
        if finding.finding_id in self.seen or finding.evidence.actor_id != self.actor_id:
            return False
        self.seen = [*self.seen, finding.finding_id][-SEEN_CAP:]
        return True

    def merge(self, inbox: list[Finding]) -> None:
        for finding in inbox:
            key = (finding.alert.detection, finding.playbook.name)
            self.findings = [f for f in self.findings if (f.alert.detection, f.playbook.name) != key]
            self.findings.append(finding)

    def quiet_period(self) -> timedelta:
        return max((f.playbook.playbook.correlation_window for f in self.findings), default=DEFAULT_QUIET)

    def playbook(self, name: str) -> PlaybookSnapshot | None:
        return next((f.playbook for f in reversed(self.findings) if f.playbook.name == name), None)

    def latest(self) -> Finding:
        return self.findings[-1]

    def user(self) -> UserRecord | None:
        return next((f.evidence.user for f in reversed(self.findings) if f.evidence.user), None)

    def dry_run(self, assessment: Assessment, options: RunOptions) -> bool:
        snapshot = self.playbook(assessment.playbook)
        return options.dry_run or bool(snapshot and snapshot.playbook.dry_run)

    def policy(self, assessment: Assessment) -> Approval:
        snapshot = self.playbook(assessment.playbook)
        return snapshot.playbook.approval if snapshot else Approval()
