"""`ttal status`: tasks by stage, with their workers and reviewers, derived live from
Taskwarrior and tmux (nothing here is stored twice)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ttal.core.pipeline import current_stage
from ttal.engine.app import App
from ttal.engine.lookup import pipeline_for, task_view


@dataclass(frozen=True)
class TaskRow:
    id: int | str  # "-" once it is completed
    uuid: str
    project: str
    stage: str
    worker: str
    reviewer: str
    description: str


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
class StatusReport:
    tasks: list[TaskRow]
    sessions: list[SessionRow]
    queue: list[QueueRow]  # tasks waiting for a free worker slot
    socket: str  # ttal's tmux server
    conflicts: list[str]  # facts ttal wrote that someone else changed (engine/reconcile.py)
    merge_queue: list[dict[str, Any]] = field(default_factory=list)  # engine/merge_queue.py

    def as_dict(self) -> dict[str, Any]:
        return {"tasks": [asdict(t) for t in self.tasks],
                "sessions": [asdict(s) for s in self.sessions],
                "queue": [asdict(q) for q in self.queue], "socket": self.socket,
                "conflicts": self.conflicts, "merge_queue": self.merge_queue}  # fmt: skip


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


def status(app: App) -> StatusReport:
    projects = sorted(app.cfg.projects)
    tasks = app.tw.export("status:pending") if projects else []
    recent = app.tw.export("status:completed", "ttal_branch.any:", "end.after:now-1d")
    sessions = set(app.tmux.sessions())
    rows = []
    for task in [*tasks, *recent]:
        if task.get("project") not in app.cfg.projects and not task.get("ttal_branch"):
            continue
        worker, reviewer = task.get("ttal_session", ""), task.get("ttal_reviewer", "")
        rows.append(
            TaskRow(
                id=task.get("id") or "-",
                uuid=task["uuid"],
                project=task.get("project", ""),
                stage=stage_label(app, task),
                worker=_alive(worker, sessions),
                reviewer=_alive(reviewer, sessions),
                description=task.get("description", ""),
            )
        )
    agents = [SessionRow(s, _kind(s)) for s in sorted(sessions)]
    from ttal.engine.spawn_queue import queue

    waiting = [QueueRow(i + 1, t, p, r) for i, (t, p, r) in enumerate(queue(app))]
    from ttal.engine.reconcile import standing_conflicts

    conflicts = [item["note"] for item in standing_conflicts(app)]  # someone changed ttal's facts
    return StatusReport(rows, agents, waiting, app.cfg.tmux_socket, conflicts, _merges(app))


def _merges(app: App) -> list[dict[str, Any]]:
    if not any(p.queued for p in app.cfg.projects.values()):
        return []
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
