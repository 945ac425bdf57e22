"""A work stage's steps: spawn the worker, brief it for a later stage, restart it when its
session is gone, and record its stage as done. Each step looks at the world, plans (core/
plans.py) and applies (engine/apply.py), so a repeated or crashed `ttal go` converges."""

from __future__ import annotations

from pathlib import Path

from ttal.adapters import git
from ttal.core.pipeline import Stage
from ttal.core.plans import plan_brief, plan_complete, plan_spawn, worker_session_name
from ttal.core.task_view import TaskView
from ttal.engine import apply, spawn_queue
from ttal.engine.app import App
from ttal.engine.lookup import project_for, workplace
from ttal.errors import PreconditionFailed


def spawn_worker(app: App, task: TaskView, stage: Stage) -> str:
    project = project_for(app, task)
    agent = app.cfg.agent(stage.agent) if stage.agent else None
    if agent is None:
        raise PreconditionFailed(f"stage {stage.name} names no worker agent", hint="set its agent:")
    where, new_branch = workplace(app, project), git.branch_name(task.short, task.description)
    plan = plan_spawn(task, stage, where, agent.name, agent.runtime, app.caller.name, new_branch)
    # Only the decision is serialised (spawn_queue.slot): two spawns must not both take the
    # last slot; their worktrees and sessions are made in parallel.
    runtime = app.cfg.runtimes[agent.runtime]
    with spawn_queue.slot(app, task.uuid, plan.session, project, runtime) as running:
        return apply.spawn(app, plan, running)


def ensure_worker(app: App, task: TaskView, stage: Stage) -> str:
    name = task.worker_session or worker_session_name(task.uuid)
    if app.tmux.has(name):
        return f"worker {name} is working on stage {stage.name}"
    return "worker session was gone; " + spawn_worker(app, task, stage)


def brief_worker(app: App, task: TaskView, stage: Stage) -> str:
    plan = plan_brief(task, stage)
    if not app.tmux.has(plan.message.to):
        spawn_worker(app, task, stage)
    return apply.brief(app, plan)


def check_branch_ready(app: App, task: TaskView, stage: Stage) -> str:
    """Commits ahead of base and a clean tree; returns the worktree HEAD. A stage without
    commits (a plan, say) records its result as a note instead: nothing to check."""
    if not stage.commits:
        return ""
    project = project_for(app, task)
    worktree = Path(task.worktree)
    if not worktree.is_dir():
        raise PreconditionFailed(
            f"worktree {worktree} is missing", hint="run `ttal go` as a person"
        )
    dirty = git.dirty_paths(worktree)
    if dirty:
        shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
        raise PreconditionFailed(
            f"uncommitted changes in {worktree}: {shown}; nothing was changed",
            hint="commit them (or remove them), then run `ttal go` again",
        )
    if git.ahead(worktree, project.base) == 0:
        raise PreconditionFailed(
            f"no commits ahead of {project.base} on {task.branch}; nothing was changed",
            hint="commit your work on this branch, then run `ttal go` again",
        )
    return git.rev(worktree, "HEAD")


def complete_work(app: App, task: TaskView, stage: Stage, note: str) -> str:
    check_branch_ready(app, task, stage)
    return apply.complete(app, plan_complete(task, stage, app.caller.name, note))
