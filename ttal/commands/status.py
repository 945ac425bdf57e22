"""`ttal status`: the fleet at a glance, derived live (nothing here is stored twice).

Agents with their state and since when; ttal's tasks with their stage, age, last sign of
life, health (and cost, once it is measured); what waits in the queues; what the journal
flagged for a person; counts by stage. One `task` call (adapters/task_query.py: ttal's
pending tasks), one tmux call, and reads of ttal's own store, which also lists the tasks
ttal finished in the last day (adapters/store/finished.py; a task a person marks done by
hand leaves the status at once). `--watch` redraws it (cli/status_screen.py).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ttal.adapters.store.finished import Finished
from ttal.adapters.task_query import epoch, ttal_pending
from ttal.commands.agents import AgentRow, agent_rows
from ttal.core.costs import Cost
from ttal.core.pipeline import current_stage
from ttal.engine.app import App
from ttal.engine.lookup import pipeline_for, task_view

FLAGGED_STATES = ("flagged", "unknown")  # intents that wait for a person (`ttal journal`)
RECENT = 86400.0  # finished tasks `ttal status` still shows (seconds)


@dataclass(frozen=True)
class TaskRow:
    id: int | str  # "-" once it is completed
    uuid: str
    project: str
    stage: str
    worker: str
    reviewer: str
    description: str
    age: float = 0.0  # seconds since the task was entered
    active: float | None = None  # seconds since its last sign of life (a write, its panes)
    health: str = ""  # ttal_health, as the watchdog last wrote it ("" not judged yet)
    owner: str = ""  # the persistent agent a role stage was given to
    # What the task's sessions cost so far (docs/cost.md), as of the last usage read: None
    # when nothing was measured, and then nothing is shown (never a made-up zero).
    cost: str | None = None
    usage: dict[str, Any] | None = None  # the same in full, for --json


@dataclass(frozen=True)
class SessionRow:
    session: str
    kind: str  # worker, reviewer or agent


@dataclass(frozen=True)
class QueueRow:
    position: int
    task: str
    project: str
    reason: str


@dataclass(frozen=True)
class RoleQueueRow:
    position: int
    task: str
    stage: str
    role: str


@dataclass(frozen=True)
class FlaggedRow:
    id: int
    action: str
    task: str
    state: str
    note: str


@dataclass(frozen=True)
class StatusReport:
    tasks: list[TaskRow]
    sessions: list[SessionRow]
    queue: list[QueueRow]  # tasks waiting for a free worker slot
    socket: str  # ttal's tmux server
    conflicts: list[str]  # facts ttal wrote that someone else changed (engine/reconcile.py)
    agents: list[AgentRow] = field(default_factory=list)
    roles: list[RoleQueueRow] = field(default_factory=list)  # role stages waiting for an agent
    flagged: list[FlaggedRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # tasks by stage (rounds merged)
    at: float = 0.0  # when it was read (epoch seconds)
    merge_queue: list[dict[str, Any]] = field(default_factory=list)  # engine/merge_queue.py

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "socket": self.socket,
                "agents": [a.as_dict() for a in self.agents],
                "tasks": [asdict(t) for t in self.tasks],
                "counts": self.counts,
                "queue": [asdict(q) for q in self.queue],
                "roles": [asdict(r) for r in self.roles],
                "flagged": [asdict(f) for f in self.flagged],
                "conflicts": self.conflicts,
                "merge_queue": self.merge_queue,
                "sessions": [asdict(s) for s in self.sessions]}  # fmt: skip


def stage_label(app: App, task: dict[str, Any]) -> str:
    try:
        pipeline = pipeline_for(app, task)
    except Exception:
        return "no pipeline"
    view = task_view(task)
    stage = current_stage(pipeline, view)
    if view.status == "completed":
        return "merged" if stage is None else "done (outside ttal)"
    if stage is None:
        return "merged"
    if not view.worker_session:
        return "pending"
    if stage.kind == "merge":
        notes = [str(a.get("description", "")) for a in task.get("annotations") or []]
        if notes and notes[-1].startswith("merge refused"):
            return "merge refused (branch kept)"
        return "awaiting approval" if stage.gate == "human" else "merging"
    if stage.tag not in view.tags:
        return f"{stage.name}: working"
    if stage.gate == "human":
        return f"{stage.name}: awaiting approval"
    if stage.review_tag not in view.tags:
        return f"{stage.name}: {stage.tag}"
    if view.review_state == "changes":
        return f"{stage.name}: changes requested (r{view.review_round})"
    return f"{stage.name}: reviewing (r{view.review_round})"


ROUND = re.compile(r" \(r\d+\)$")


def status(app: App) -> StatusReport:
    now = time.time()
    tasks = ttal_pending(app.tw, set(app.cfg.projects))
    finished = _finished(app, tasks, now)
    activity = app.tmux.activity()  # its keys: the sessions that exist
    from ttal.engine.usage import cost_by_task  # as of the last read (`ttal watch`, `ttal cost`)

    costs = cost_by_task(app, [t["uuid"] for t in tasks] + [f.uuid for f in finished])
    rows = [_task_row(app, t, activity, now, costs.get(t["uuid"])) for t in tasks]
    rows += [_finished_row(f, activity, now, costs.get(f.uuid)) for f in finished]
    rows.sort(key=_order)
    from ttal.engine.reconcile import standing_conflicts
    from ttal.engine.spawn_queue import queue

    return StatusReport(
        tasks=rows,
        sessions=[SessionRow(s, _kind(s)) for s in sorted(activity)],
        queue=[QueueRow(i + 1, t, p, r) for i, (t, p, r) in enumerate(queue(app))],
        socket=app.cfg.tmux_socket,
        conflicts=[item["note"] for item in standing_conflicts(app)],
        agents=agent_rows(app, tasks, activity, now),
        roles=_role_queue(app),
        flagged=[
            FlaggedRow(i.id, i.action, i.task, i.state, i.note)
            for i in app.state.intents(FLAGGED_STATES)
        ],
        counts=dict(Counter(ROUND.sub("", r.stage) for r in rows).most_common()),
        at=round(now, 3),
        merge_queue=_merges(app),
    )


def _task_row(
    app: App, task: dict[str, Any], activity: dict[str, float], now: float, cost: Cost | None
) -> TaskRow:
    worker, reviewer = task.get("ttal_session", ""), task.get("ttal_reviewer", "")
    sessions = set(activity)
    seen = [epoch(task.get("modified")), *(activity.get(s, 0.0) for s in (worker, reviewer))]
    last = max(seen)
    return TaskRow(
        id=(task.get("id") or "-") if task.get("status") == "pending" else "-",
        uuid=task["uuid"],
        project=task.get("project", ""),
        stage=stage_label(app, task),
        worker=_alive(worker, sessions),
        reviewer=_alive(reviewer, sessions),
        description=task.get("description", ""),
        age=round(max(now - epoch(task.get("entry")), 0.0), 1),
        active=round(max(now - last, 0.0), 1) if last else None,
        health=str(task.get("ttal_health") or ""),
        owner=str(task.get("ttal_owner") or ""),
        cost=cost.label() if cost else None,
        usage=cost.as_dict() if cost else None,
    )


def _finished(app: App, pending: list[dict[str, Any]], now: float) -> list[Finished]:
    """The tasks ttal finished in the last RECENT seconds, but one pending again (reopened,
    or ttal's done never landed): its Taskwarrior row is the truth."""
    shown = {t["uuid"] for t in pending}
    return [f for f in app.state.finished_since(now - RECENT) if f.uuid not in shown]


def _finished_row(
    task: Finished, activity: dict[str, float], now: float, cost: Cost | None
) -> TaskRow:
    """A task ttal merged and marked done, from its record."""
    sessions = set(activity)
    last = max(task.ended, *(activity.get(s, 0.0) for s in (task.worker, task.reviewer)))
    return TaskRow(
        id="-",
        uuid=task.uuid,
        project=task.project,
        stage="merged",
        worker=_alive(task.worker, sessions),
        reviewer=_alive(task.reviewer, sessions),
        description=task.description,
        age=round(max(now - task.entry, 0.0), 1),
        active=round(max(now - last, 0.0), 1),
        health=task.health,
        owner=task.owner,
        cost=cost.label() if cost else None,
        usage=cost.as_dict() if cost else None,
    )


def _order(row: TaskRow) -> tuple[int, float]:
    """Work in flight first, then tasks not started, then the recently finished; oldest
    first in each (a stable order: rows do not jump between `--watch` redraws)."""
    rank = 2 if row.id == "-" else 1 if row.stage == "pending" else 0
    return rank, -row.age


def _role_queue(app: App) -> list[RoleQueueRow]:
    position: Counter[str] = Counter()
    rows = []
    for task, stage, role in app.state.assignments():
        position[role] += 1
        rows.append(RoleQueueRow(position[role], task, stage, role))
    return rows


def _merges(app: App) -> list[dict[str, Any]]:
    if not any(p.queued for p in app.cfg.projects.values()) and not app.state.merge_queue_used():
        return []  # no queue configured, and no group (a change across repos) queued
    from ttal.engine.merge_queue import queue_rows

    return queue_rows(app)


def _alive(name: str, sessions: set[str]) -> str:
    if not name:
        return ""
    return name if name in sessions else f"{name} (gone)"


def _kind(session: str) -> str:
    if session.startswith("w-"):
        return "worker"
    if session.startswith("r-"):
        return "reviewer"
    return "agent"
