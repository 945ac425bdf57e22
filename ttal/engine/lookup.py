"""Reading a task into the step logic's terms, and the task-level guards shared by commands."""

from __future__ import annotations

import os
import re
from typing import Any

from ttal.adapters.taskwarrior import tags_of
from ttal.config.model import Project
from ttal.core.pipeline import Pipeline, select_pipeline
from ttal.core.plans import Workplace
from ttal.core.refs import branch_problem, inside, worktree_problem
from ttal.core.task_view import TaskView, read_task
from ttal.engine.app import App
from ttal.errors import NotFound, PreconditionFailed, UsageError

FULL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def task_view(task: dict[str, Any], unreviewed: bool = False) -> TaskView:
    return read_task(task, unreviewed)


def branch_unreviewed(app: App, task: TaskView) -> bool:
    """True when the review lead approved a commit and the branch has moved on since."""
    if not task.reviewed or not task.branch or task.status != "pending":
        return False
    from ttal.adapters import git

    tip = git.rev(project_for(app, task).repo, f"refs/heads/{task.branch}")
    return bool(tip) and tip != task.reviewed


def pipeline_for(app: App, task: dict[str, Any]) -> Pipeline:
    try:
        return select_pipeline(tags_of(task), app.cfg.pipelines)
    except ValueError as err:
        raise PreconditionFailed(f"task {task['uuid'][:8]}: {err}") from None


def project_for(app: App, task: TaskView) -> Project:
    if not task.project:
        raise PreconditionFailed(
            f"task {task.short} has no project, so ttal does not know its repo",
            hint=f"task {task.short} modify project:<name>  (projects: "
            f"{', '.join(sorted(app.cfg.projects)) or 'none configured'})",
        )
    try:
        return app.cfg.project(task.project)
    except NotFound as err:
        raise PreconditionFailed(str(err.message), hint=err.hint) from None


def check_paths(app: App, task: TaskView) -> None:
    """Refuse a task whose ttal_branch or ttal_worktree ttal could not have made itself
    (core/refs.py): anyone can set them with `task`, and ttal runs git, tmux and an agent
    there, and later removes that worktree and deletes that branch. Costs no `task` call:
    a few stat calls when the task has a worktree."""
    short = task.short
    if task.branch and (problem := branch_problem(task.branch)):
        hint = (f"set it back to the task's ttal/ branch, or clear it (`task {short} modify "
                "ttal_branch:`) if no worker has started")  # fmt: skip
    elif task.worktree and (problem := _worktree_problem(app, task)):
        home = os.path.join(app.cfg.worktree_root, task.project)
        hint = (f"point it under {home}{os.sep} (`git worktree move` an existing worktree "
                f"there first), or clear it (`task {short} modify ttal_worktree:`) if no "
                "worker has started")  # fmt: skip
    else:
        return
    raise PreconditionFailed(
        f"task {short}: {problem}; nothing was started, changed or removed",
        hint=f"{hint}, then `ttal go {short}`",
    )


def _worktree_problem(app: App, task: TaskView) -> str:
    path = task.worktree
    if problem := worktree_problem(path):
        return problem
    project = project_for(app, task).name
    home = os.path.normpath(app.cfg.worktree_root / project)
    real, real_home = os.path.realpath(path), os.path.realpath(home)
    if inside(path, home) and inside(real, real_home):
        return ""
    if app.state.made_worktree(task.uuid, path):
        return ""  # ttal made it there, under a worktree_root changed since
    if not inside(path, home):
        return f"its ttal_worktree {path!r} is not inside {home}{os.sep} (project {project})"
    return f"its ttal_worktree {path!r} leads out of {home}{os.sep} through a link (to {real})"


def workplace(app: App, project: Project) -> Workplace:
    return Workplace(project.name, project.repo, project.base, app.cfg.worktree_root)


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
    return app.tw.get(_ref(app, ref))


def resolve_uuid(app: App, ref: str | None) -> str:
    """The full uuid of the task `ref` names (or the caller's own): a full uuid needs no
    `task` call, since the caller reads the task under its lock anyway (and so finds out
    whether it exists)."""
    ref = _ref(app, ref)
    if FULL_UUID.match(ref.strip().lower()):
        return ref.strip().lower()
    return str(app.tw.get(ref)["uuid"])


def _ref(app: App, ref: str | None) -> str:
    ref = ref or app.caller.task or _owned_task(app)
    if not ref:
        raise UsageError(
            "which task? give a task id or uuid",
            hint="inside a worker or reviewer session the task is implied",
        )
    return ref
