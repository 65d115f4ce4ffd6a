"""What `riposte demo` draws: the live view of its runs and the closing summary.

The live view keeps one row per scenario from the first frame to the last (the SIEM that
carried it, its stage, score and decision, whether Riposte's own Akku-stream detection
caught it too, a link to its run), then the people waiting for a decision and where to
decide, then where the runs and the logs are. Its height never changes, so it redraws in
place; it fits a 100-column terminal.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from riposte.temporal import run_url

if TYPE_CHECKING:
    from cli.demo import AlertRun, Investigation
    from cli.logs import Problems

WAITING_SHOWN = 2  # people listed by name (two lines each); the rest are counted
STAGE_STYLES = {
    "acted": "bold red",
    "approved": "bold red",
    "waiting_for_approval": "bold yellow",
    "waiting": "bold yellow",
    "dismissed": "green",
    "observed": "green",
    "notified": "cyan",
    "timed_out": "magenta",
}
ACTED = {"applied", "already_applied", "dry_run"}
STREAM_SHORT = {"no stream rule": "no rule", "stayed quiet": "quiet", "fired (playbook decided)": "fired"}


@dataclass
class ViewContext:
    """What the view shows besides the runs: where to click, where the runs and logs are."""

    ui_url: str | None
    namespace: str
    slack_url: str | None
    auto_approve: bool = False
    log_file: Path | None = None
    problems: Problems | None = None
    started: float = field(default_factory=time.monotonic)

    def link(self, workflow_id: str | None) -> str | None:
        return run_url(self.ui_url, self.namespace, workflow_id) if workflow_id else None


def actions_taken(inv: Investigation) -> list[str]:
    status = inv.status
    decisions = status.decisions if status else []
    return [r.action.value for d in decisions for r in d.results if r.status in ACTED]


def stage_text(inv: Investigation) -> Text:
    status = inv.status
    if status is None:
        return Text("opening", style="dim")
    stage = "waiting" if status.pending else status.stage
    return Text(stage.replace("_", " "), style=STAGE_STYLES.get(stage, ""))


# --- the live view -----------------------------------------------------------------------


def live_view(runs: list[AlertRun], ctx: ViewContext, *, final: bool = False) -> Group:
    """The live view; `final`: the last frame, left in the scrollback without the padding."""
    settled = sum(1 for r in runs if r.error or (r.outcome is not None and all(i.settled for i in r.investigations)))
    elapsed = time.monotonic() - ctx.started
    title = f"Riposte demo: {settled}/{len(runs)} scenarios settled, {elapsed:.0f} s   (fp: a false positive)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("scenario", no_wrap=True, overflow="ellipsis", width=21)
    table.add_column("SIEM", no_wrap=True, width=8)
    table.add_column("people", no_wrap=True, justify="right", width=6)
    table.add_column("stage", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("score", no_wrap=True, justify="right", width=5)
    table.add_column("decision", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("stream", no_wrap=True, overflow="ellipsis", width=7)
    table.add_column("run", no_wrap=True, width=4)
    for run in runs:
        table.add_row(*_row(run, ctx))
    return Group(table, *_waiting(runs, ctx, final=final), *_footer(ctx))


def _row(run: AlertRun, ctx: ViewContext) -> list[RenderableType]:
    name = Text(run.scenario.name)
    if run.scenario.false_positive:
        name.append(" fp", style="dim")
    invs = run.investigations
    people = str(len(invs)) if invs else ""
    link = ctx.link(invs[0].workflow_id if len(invs) == 1 else run.workflow_id)
    run_cell = Text("UI ↗", style=f"link {link}") if link else Text("")
    stream = Text(STREAM_SHORT.get(run.stream, run.stream) or "…", style="" if run.stream else "dim")
    if run.error:
        return [name, run.scenario.source, "", Text(run.error, style="red"), "", "", stream, run_cell]
    if not invs:
        stage = Text("enriching" if run.workflow_id else "sending", style="dim")
        return [name, run.scenario.source, people, stage, "", "", stream, run_cell]
    scores = [i.status.score for i in invs if i.status and i.status.score is not None]
    score = f"{max(scores):.0f}" if scores else ""
    return [name, run.scenario.source, people, _stages(invs), score, _decision(invs), stream, run_cell]


def _stages(invs: list[Investigation]) -> Text:
    if len(invs) == 1:
        return stage_text(invs[0])
    counts: Counter[str] = Counter(
        "waiting" if i.status and i.status.pending else (i.status.stage if i.status else "opening") for i in invs
    )
    text = Text()
    for stage, count in sorted(counts.items(), key=lambda kv: (kv[0] != "waiting", -kv[1])):
        if text:
            text.append(", ")
        text.append(f"{count} {stage.replace('_', ' ')}", style=STAGE_STYLES.get(stage, ""))
    return text


def _decision(invs: list[Investigation]) -> str:
    labels: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    for inv in invs:
        decisions = inv.status.decisions if inv.status else []
        if decisions:
            labels[decisions[-1].label.value] += 1
        actions.update(actions_taken(inv))
    if not labels:
        return ""
    label = labels.most_common(1)[0][0]
    done = ", ".join(action for action, _ in actions.most_common(2))
    return f"{label}: {done}" if done else label


def _waiting(runs: list[AlertRun], ctx: ViewContext, *, final: bool) -> list[RenderableType]:
    waiting = [(r, i) for r in runs for i in r.investigations if i.status and i.status.pending]
    lines: list[Text] = []
    if ctx.auto_approve:
        head = Text(f"Waiting for a decision: {len(waiting)}; --auto-approve decides as the analyst would")
    elif ctx.slack_url:
        head = Text.assemble(
            (f"Waiting for a decision: {len(waiting)}", "bold yellow" if waiting else ""),
            "; click Approve or Deny at ",
            (ctx.slack_url, f"link {ctx.slack_url}"),
        )
    else:
        head = Text(f"Waiting for a decision: {len(waiting)}; decide with `riposte approve` / `riposte deny`")
    for run, inv in waiting[:WAITING_SHOWN]:
        actor = inv.workflow_id.removeprefix("investigation-")
        score = f"score {inv.status.score:.0f}; " if inv.status and inv.status.score is not None else ""
        lines.append(
            Text.assemble(
                "  ", (actor, "bold"), f"  {run.scenario.name}, {score}decide: ", (f"riposte approve {actor}", "cyan")
            )
        )
        link = ctx.link(inv.workflow_id)
        lines.append(Text(f"    {link}", style=f"dim link {link}") if link else Text(""))
    if len(waiting) > WAITING_SHOWN:
        lines.append(Text(f"  … and {len(waiting) - WAITING_SHOWN} more (`riposte runs` lists them)"))
    while not final and len(lines) < 2 * WAITING_SHOWN + 1:  # a constant height: the view redraws in place
        lines.append(Text(""))
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
    return [head, *lines]


def _footer(ctx: ViewContext) -> list[RenderableType]:
    lines: list[RenderableType] = []
    if ctx.ui_url:
        runs = f"{ctx.ui_url.rstrip('/')}/namespaces/{ctx.namespace}/workflows"
        lines.append(Text.assemble("Runs in the Temporal UI: ", (runs, f"link {runs}")))
    if ctx.log_file is not None:
        lines.append(Text(f"Logs: {ctx.log_file}", style="dim"))
    notice = ctx.problems.notice() if ctx.problems else ""
    problem = Text(f"⚠ {notice}", style="bold red") if notice else Text("")
    problem.no_wrap, problem.overflow = True, "ellipsis"
    return [*lines, problem]


# --- the closing summary -----------------------------------------------------------------


def summary(runs: list[AlertRun], ctx: ViewContext) -> Group:
    table = Table(title="Riposte demo: what happened", expand=True)
    columns = ("scenario", "actor", "score", "decision", "applied in Akku", "alert → action", "Akku stream")
    for column in columns:
        table.add_column(column, overflow="fold")
    for run in runs:
        label = run.scenario.name + (" (false positive)" if run.scenario.false_positive else "")
        stream = run.stream
        if run.error:
            table.add_row(label, "", "", Text(run.error, style="red"), "", "", stream)
            continue
        for inv in run.investigations:
            status = inv.status
            decisions = status.decisions if status else []
            decision = decisions[-1] if decisions else None
            actions = ", ".join(
                r.action.value + ("" if r.status == "applied" else f" {r.status}") for d in decisions for r in d.results
            )
            elapsed = ""
            if decision is not None and decision.results:
                elapsed = f"{(decision.at - inv.alert_sent_at).total_seconds():.1f} s"
            link = ctx.link(inv.workflow_id)
            actor = inv.workflow_id.removeprefix("investigation-")
            table.add_row(
                label,
                Text(actor, style=f"link {link}") if link else actor,
                f"{status.score:.0f}" if status and status.score is not None else "",
                decision.label if decision else (status.stage if status else "?"),
                actions or "none",
                elapsed,
                stream,
            )
            label = stream = ""
    lines: list[RenderableType] = [table]
    if ctx.ui_url:
        lines.append(Text(f"Each actor links to its run; all runs: {ctx.ui_url}/namespaces/{ctx.namespace}/workflows"))
    return Group(*lines)
