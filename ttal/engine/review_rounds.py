"""A review gate's steps: start the review lead (round 1), restart it when its session is
gone, and start the next round once the worker has answered requested changes."""

from __future__ import annotations

from pathlib import Path

from ttal.adapters import git
from ttal.core.pipeline import Stage
from ttal.core.plans import (
    ReviewerPlan,
    plan_new_round,
    plan_review_start,
    plan_reviewer,
    reviewer_session_name,
)
from ttal.core.task_view import TaskView
from ttal.engine import apply
from ttal.engine.app import App
from ttal.engine.lookup import project_for, workplace
from ttal.engine.workers import check_branch_ready


def _reviewer(app: App, task: TaskView, stage: Stage, rnd: int) -> ReviewerPlan:
    agent = app.cfg.agent(stage.reviewer)
    where = workplace(app, project_for(app, task))
    exists = Path(task.worktree or where.repo).is_dir()
    return plan_reviewer(task, stage, where, agent.runtime, rnd, exists)


def spawn_reviewer(app: App, task: TaskView, stage: Stage) -> str:
    worktree = Path(task.worktree)
    head = git.rev(worktree, "HEAD") if stage.commits and worktree.is_dir() else ""
    plan = plan_review_start(_reviewer(app, task, stage, 1), stage, head)
    return apply.start_review(app, plan)


def await_review(app: App, task: TaskView, stage: Stage) -> str:
    name = task.reviewer or reviewer_session_name(task.uuid, stage.name)
    rnd = task.review_round or 1
    if app.tmux.has(name):
        return ""
    apply.start_reviewer(app, _reviewer(app, task, stage, rnd))
    return f"review lead session was gone; restarted {name} (round {rnd})"


def new_round(app: App, task: TaskView, stage: Stage, note: str = "") -> str:
    head = check_branch_ready(app, task, stage)
    plan = plan_new_round(task, stage, head, app.caller.name, note)
    gone = not app.tmux.has(plan.reviewer)
    reviewer = _reviewer(app, task, stage, plan.round) if gone else None
    return apply.new_round(app, plan, reviewer)
