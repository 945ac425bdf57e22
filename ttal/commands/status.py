"""`ttal status`: tasks by stage, with their workers and reviewers, derived live from
Taskwarrior and tmux (nothing here is stored twice)."""

from __future__ import annotations

from typing import Any

from ttal.core.pipeline import current_stage
from ttal.engine.app import App
from ttal.engine.lookup import pipeline_for, task_view


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


def status(app: App) -> dict[str, Any]:
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
            {
                "id": task.get("id") or "-",
                "uuid": task["uuid"],
                "project": task.get("project", ""),
                "stage": stage_label(app, task),
                "worker": _alive(worker, sessions),
                "reviewer": _alive(reviewer, sessions),
                "description": task.get("description", ""),
            }
        )
    agents = [{"session": s, "kind": _kind(s)} for s in sorted(sessions)]
    from ttal.engine.spawn_queue import queue

    waiting = [{"position": i + 1, "task": t, "project": p, "reason": r}
               for i, (t, p, r) in enumerate(queue(app))]  # fmt: skip
    from ttal.engine.reconcile import standing_conflicts

    conflicts = [item["note"] for item in standing_conflicts(app)]  # someone changed ttal's facts
    return {"tasks": rows, "sessions": agents, "queue": waiting, "socket": app.cfg.tmux_socket,
            "conflicts": conflicts}  # fmt: skip


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
