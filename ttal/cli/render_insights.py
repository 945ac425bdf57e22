"""`ttal log` and `ttal insights` as text for people (their HTML report is in
ttal.cli.render_html). Cost columns appear only when cost records exist: no record is
never shown as a zero."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ttal.cli.render import lines, table
from ttal.core.durations import ago

if TYPE_CHECKING:
    from ttal.commands.task_log import TaskLog
    from ttal.core.insights import Insights, TaskLine, Throughput


def when(ts: float | None, day: bool = True) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S" if day else "%H:%M:%S", time.localtime(ts))


def took(seconds: float | None) -> str:
    return "-" if seconds is None else ago(seconds)


def usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


# ---- ttal log ------------------------------------------------------------------------------


def log_text(log: TaskLog) -> str:
    head = f"task {log.id or '-'} ({log.uuid[:8]}) {log.description}"
    facts = f"  project {log.project or '-'}, {log.status}; tags {', '.join(log.tags) or '-'}"
    stages = []
    for s in log.stages:
        row: dict[str, Any] = {"stage": s.stage, "agent": s.agent, "reviewer": s.reviewer,
                               "start": when(s.start), "end": when(s.end), "took": took(s.seconds),
                               "rounds": s.rounds or "", "changes": s.changes or "",
                               "waited": took(s.waited) if s.ready is not None else ""}  # fmt: skip
        if log.cost:
            cost = log.cost.get(s.stage)
            row |= {"tokens": cost.tokens if cost else "-", "cost": usd(cost.usd if cost else None)}
        stages.append(row)
    cols = ["stage", "agent", "reviewer", "start", "end", "took", "rounds", "changes", "waited"]
    cols += ["tokens", "cost"] if log.cost else []
    entries = [{"time": when(e.ts), "source": e.source, "kind": e.kind, "actor": e.actor,
                "what": e.text[:120]} for e in log.entries]  # fmt: skip
    return lines(head, facts, "", table(stages, cols, title="Stages"), "",
                 table(entries, ["time", "source", "kind", "actor", "what"],
                       title=f"Timeline ({len(entries)} entries, oldest first)"))  # fmt: skip


# ---- ttal insights -------------------------------------------------------------------------


def insights_text(report: Insights) -> str:
    costs = report.cost_usd is not None
    span = f"{when(report.since)} .. {when(report.until)}"
    head = [f"ttal insights: {span} ({window(report.until - report.since)})",
            f"  {report.tasks} task(s) with activity, {report.merged} merged; "
            f"{report.reviewed} reviewed, {report.reworked} reworked "
            f"(rework rate {percent(report.rework_rate)}); "
            f"tasks by review rounds: {_rounds(report.rounds)}"]  # fmt: skip
    if costs:
        head.append(f"  cost: {usd(report.cost_usd)} for {report.cost_tokens:,} tokens")
    parts = [*head, "", _throughput(report.agents, "agent", costs), "",
             _throughput(report.roles, "role", costs), "", _stage_times(report), "",
             _trouble(report), "", _actions(report), "", _per_day(report, costs), "",
             _tasks(report.slowest, "Slowest merged tasks", costs)]  # fmt: skip
    if costs:
        parts += ["", _tasks(report.costliest, "Most expensive tasks", costs)]
    return lines(*parts)


def window(seconds: float) -> str:
    return f"{seconds / 86400:.3g} days" if seconds >= 86400 else ago(seconds)


def _rounds(rounds: dict[int, int]) -> str:
    return ", ".join(f"{n}: {count}" for n, count in sorted(rounds.items())) or "-"


def _throughput(rows: Sequence[Throughput], what: str, costs: bool) -> str:
    data = [{what: r.name, "role": r.role, "stages": r.stages, "merged": r.merged,
             "verdicts": r.verdicts, "cost": usd(r.usd)} for r in rows]  # fmt: skip
    cols = [what, "role", "stages", "merged", "verdicts", *(["cost"] if costs else [])]
    if what == "role":
        cols.remove("role")
    return table(data, cols, title=f"Throughput per {what}")


def _stage_times(report: Insights) -> str:
    data = [{"stage": s.stage, "done": s.count, "p50": ago(s.p50), "p90": ago(s.p90),
             "max": ago(s.max)} for s in report.stage_times]  # fmt: skip
    return table(data, ["stage", "done", "p50", "p90", "max"], title="Cycle time per stage")


def _trouble(report: Insights) -> str:
    data = [{"state": t.state, "episodes": t.episodes, "total": ago(t.seconds),
             "longest": ago(t.longest), "agent": t.agent, "task": t.task[:8]}
            for t in report.trouble]  # fmt: skip
    cols = ["state", "episodes", "total", "longest", "agent", "task"]
    return table(data, cols, title="Stuck, dead or waiting for a person")


def _actions(report: Insights) -> str:
    data = [{"id": a.id, "when": when(a.ts), "action": a.action, "task": a.task[:8],
             "state": a.state, "note": a.note[:80]} for a in report.actions]  # fmt: skip
    cols = ["id", "when", "action", "task", "state", "note"]
    return table(data, cols, title="Flagged and failed actions (journal; `ttal journal`)")


def _per_day(report: Insights, costs: bool) -> str:
    data = [{"day": d.day, "merged": d.merged, "stages": d.stages, "cost": usd(d.usd)}
            for d in report.per_day]  # fmt: skip
    return table(data, ["day", "merged", "stages", *(["cost"] if costs else [])], title="Per day")


def _tasks(rows: Sequence[TaskLine], title: str, costs: bool) -> str:
    data = [{"task": t.uuid[:8], "project": t.project, "took": took(t.seconds),
             "rounds": t.rounds, "tokens": t.tokens if t.tokens is not None else "-",
             "cost": usd(t.usd), "description": t.description} for t in rows]  # fmt: skip
    cols = ["task", "project", "took", "rounds"]
    cols += ["tokens", "cost"] if costs else []
    return table(data, [*cols, "description"], title=title)
