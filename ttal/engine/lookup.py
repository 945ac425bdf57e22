"""Reading a task into the step logic's terms, and the task-level guards shared by commands."""

from __future__ import annotations

from typing import Any

from ttal.adapters.taskwarrior import tags_of
from ttal.config.model import Project
from ttal.core.pipeline import Pipeline, TaskView, select_pipeline
from ttal.engine.app import App
from ttal.errors import NotFound, PreconditionFailed, UsageError


def task_view(task: dict[str, Any], unreviewed: bool = False) -> TaskView:
    approved = str(task.get("ttal_approved") or "")
    return TaskView(
        uuid=task["uuid"],
        status=str(task.get("status", "pending")),
        tags=tags_of(task),
        worker_session=str(task.get("ttal_session") or ""),
        briefed_stage=str(task.get("ttal_stage") or ""),
        review_state=str(task.get("ttal_review") or "").split(":")[0],
        review_round=int(task.get("ttal_round") or 0),
        approved=frozenset(a for a in approved.split(",") if a),
        unreviewed=unreviewed,
        owner=str(task.get("ttal_owner") or ""),
        owner_stage=str(task.get("ttal_owner_stage") or ""),
    )


def branch_unreviewed(app: App, task: dict[str, Any]) -> bool:
    """True when the review lead approved a commit and the branch has moved on since."""
    reviewed = str(task.get("ttal_reviewed") or "")
    branch = str(task.get("ttal_branch") or "")
    if not reviewed or not branch or task.get("status") != "pending":
        return False
    from ttal.adapters import git

    tip = git.rev(project_for(app, task).repo, f"refs/heads/{branch}")
    return bool(tip) and tip != reviewed


def pipeline_for(app: App, task: dict[str, Any]) -> Pipeline:
    try:
        return select_pipeline(tags_of(task), app.cfg.pipelines)
    except ValueError as err:
        raise PreconditionFailed(f"task {task['uuid'][:8]}: {err}") from None


def project_for(app: App, task: dict[str, Any]) -> Project:
    name = str(task.get("project") or "")
    if not name:
        raise PreconditionFailed(
            f"task {task['uuid'][:8]} has no project, so ttal does not know its repo",
            hint=f"task {task['uuid'][:8]} modify project:<name>  (projects: "
            f"{', '.join(sorted(app.cfg.projects)) or 'none configured'})",
        )
    try:
        return app.cfg.project(name)
    except NotFound as err:
        raise PreconditionFailed(str(err.message), hint=err.hint) from None


def _owned_task(app: App) -> str:
    """A manager-plane agent's task: the one stage assigned to it and not yet done."""
    if app.caller.role != "manager":
        return ""
    open_ = []
    for task in app.tw.export("status:pending", f"ttal_owner:{app.caller.name}"):
        stage = pipeline_for(app, task).stage(str(task.get("ttal_owner_stage") or ""))
        if stage is not None and stage.tag not in (task.get("tags") or []):
            open_.append(task["uuid"])
    if len(open_) > 1:
        shown = ", ".join(u[:8] for u in open_)
        raise UsageError(f"you own several open stages ({shown}); say which task")
    return open_[0] if open_ else ""


def resolve_task(app: App, ref: str | None) -> dict[str, Any]:
    """The task named by `ref`, or the caller's own task inside a worker/reviewer session."""
    ref = ref or app.caller.task or _owned_task(app)
    if not ref:
        raise UsageError(
            "which task? give a task id or uuid",
            hint="inside a worker or reviewer session the task is implied",
        )
    return app.tw.get(ref)
