"""What each step of the pipeline does to the world. Every function checks the world
first and does only what is missing, so a repeated or crashed `ttal go` converges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ttal import faults
from ttal.adapters import git, locks
from ttal.config.model import Agent, Project
from ttal.core import prompts
from ttal.core.pipeline import Stage
from ttal.engine import journal, spawn_queue
from ttal.engine.app import App
from ttal.engine.lookup import project_for
from ttal.engine.mesh import tell
from ttal.engine.sessions import (
    SessionPlan,
    reviewer_session_name,
    start_session,
    worker_session_name,
)
from ttal.errors import PreconditionFailed


def _meta(task: dict[str, Any], stage: Stage, rnd: int = 0) -> dict[str, Any]:
    return {
        "uuid": task["uuid"],
        "short": task["uuid"][:8],
        "description": task.get("description", ""),
        "project": task.get("project", ""),
        "stage": stage.name,
        "round": rnd,
    }


def spawn_worker(app: App, task: dict[str, Any], stage: Stage) -> str:
    project = project_for(app, task)
    agent = app.cfg.agent(stage.agent) if stage.agent else None
    if agent is None:
        raise PreconditionFailed(f"stage {stage.name} names no worker agent", hint="set its agent:")
    # One spawn at a time: the limits below count what is running, and two spawns must not
    # both take the last slot.
    with locks.held(app.lock_dir / "spawn.lock"):
        return _spawn_worker(app, task, stage, project, agent)


def _spawn_worker(
    app: App, task: dict[str, Any], stage: Stage, project: Project, agent: Agent
) -> str:
    uuid, short = task["uuid"], task["uuid"][:8]
    name = worker_session_name(uuid)
    running = set(app.tmux.sessions())
    if name not in running:
        spawn_queue.check_spawn(app, uuid, project, app.cfg.runtimes[agent.runtime], running)
    branch = task.get("ttal_branch") or git.branch_name(short, task.get("description", ""))
    default_wt = app.cfg.worktree_root / project.name / branch.removeprefix("ttal/")
    worktree = Path(task.get("ttal_worktree") or default_wt)
    facts = {"ttal_branch": branch, "ttal_worktree": str(worktree), "ttal_agent": agent.name,
             "ttal_runtime": agent.runtime, "ttal_spawner": app.caller.name}  # fmt: skip
    missing = {k: v for k, v in facts.items() if not task.get(k)}
    if missing:  # recorded first, so a crash later still knows where the work lives
        app.tw.set(uuid, **missing)
    faults.point("spawn.facts")
    with (
        locks.held(locks.repo_lock(app.lock_dir, project.repo)),
        journal.intent(
            app,
            "worktree.add",
            f"wt:{worktree}",
            uuid,
            path=str(worktree),
            repo=str(project.repo),
            branch=branch,
        ),  # fmt: skip
    ):
        git.ensure_worktree(project.repo, worktree, branch, project.base)
    faults.point("spawn.worktree")
    prompt = prompts.worker_prompt(task, stage, project.base, branch)
    plan = SessionPlan(name, "worker", agent.runtime, worktree, prompt, uuid, _meta(task, stage))
    with journal.intent(app, "session.start", f"session:{name}", uuid, name=name):
        session_id = start_session(app, plan, running)
    faults.point("spawn.session")
    updates: dict[str, str] = {"ttal_session": name, "ttal_stage": stage.name}
    if session_id:
        updates["ttal_session_id"] = session_id
    if not task.get("start"):
        updates["start"] = "now"  # `task start` in the same write
    app.tw.set(uuid, **updates)
    if session_id:
        spawn_queue.record_spawn(app, uuid, project.name, agent.runtime)
    app.state.event("spawned", uuid, app.caller.name, f"{name} on {branch}")
    return f"spawned worker {name} on {branch} ({worktree})"


def ensure_worker(app: App, task: dict[str, Any], stage: Stage) -> str:
    name = task.get("ttal_session") or worker_session_name(task["uuid"])
    if app.tmux.has(name):
        return f"worker {name} is working on stage {stage.name}"
    return "worker session was gone; " + spawn_worker(app, task, stage)


def brief_worker(app: App, task: dict[str, Any], stage: Stage) -> str:
    name = task.get("ttal_session") or worker_session_name(task["uuid"])
    if not app.tmux.has(name):
        spawn_worker(app, task, stage)
    text = prompts.brief(stage, task["uuid"][:8])
    tell(
        app, name, text, key=f"brief:{task['uuid']}:{stage.name}", task=task["uuid"], sender="ttal"
    )
    app.tw.set(task["uuid"], ttal_stage=stage.name)
    return f"briefed worker {name} for stage {stage.name}"


def check_branch_ready(app: App, task: dict[str, Any], stage: Stage) -> str:
    """Commits ahead of base and a clean tree; returns the worktree HEAD. A stage without
    commits (a plan, say) records its result as a note instead: nothing to check."""
    if not stage.commits:
        return ""
    project = project_for(app, task)
    worktree = Path(str(task.get("ttal_worktree") or ""))
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
            f"no commits ahead of {project.base} on {task.get('ttal_branch')}; nothing was changed",
            hint="commit your work on this branch, then run `ttal go` again",
        )
    return git.rev(worktree, "HEAD")


def complete_work(app: App, task: dict[str, Any], stage: Stage, note: str) -> str:
    check_branch_ready(app, task, stage)
    if note:
        app.tw.annotate(task["uuid"], f"{stage.name} by {app.caller.name}: {note}")
    app.tw.add_tags(task["uuid"], [stage.tag])
    faults.point("advance.coded")
    app.state.event("tagged", task["uuid"], app.caller.name, stage.tag)
    return f"+{stage.tag}"


def _start_reviewer(app: App, task: dict[str, Any], stage: Stage, rnd: int) -> str:
    agent = app.cfg.agent(stage.reviewer)
    project = project_for(app, task)
    name = reviewer_session_name(task["uuid"], stage.name)
    branch = str(task.get("ttal_branch") or "")
    prompt = prompts.reviewer_prompt(task, stage, project.base, branch, rnd)
    worktree = Path(str(task.get("ttal_worktree") or project.repo))
    if not worktree.is_dir():  # a role stage (a plan) can come before any worktree exists
        worktree = project.repo
    plan = SessionPlan(name, "reviewer", agent.runtime, worktree, prompt, task["uuid"],
                       _meta(task, stage, rnd), read_only=True)  # fmt: skip
    with journal.intent(app, "session.start", f"session:{name}", task["uuid"], name=name):
        start_session(app, plan)
    return name


def reviewing(head: str) -> str:
    """ttal_review during a round: `reviewing:<the commit the review lead was given>`; its
    verdict is refused if the worktree is not that commit, clean (commands/review.py)."""
    return f"reviewing:{head}" if head else "reviewing"


def spawn_reviewer(app: App, task: dict[str, Any], stage: Stage) -> str:
    worktree = Path(str(task.get("ttal_worktree") or ""))
    head = git.rev(worktree, "HEAD") if stage.commits and worktree.is_dir() else ""
    name = _start_reviewer(app, task, stage, 1)
    faults.point("advance.reviewer")
    app.tw.modify(task["uuid"], f"ttal_reviewer:{name}", f"ttal_review:{reviewing(head)}",
                  "ttal_round:1", f"+{stage.review_tag}")  # fmt: skip
    app.state.event("review-started", task["uuid"], app.caller.name, name)
    return f"spawned review lead {name}; +{stage.review_tag}"


def await_review(app: App, task: dict[str, Any], stage: Stage) -> str:
    name = str(task.get("ttal_reviewer") or reviewer_session_name(task["uuid"], stage.name))
    rnd = int(task.get("ttal_round") or 1)
    if app.tmux.has(name):
        return ""
    _start_reviewer(app, task, stage, rnd)
    return f"review lead session was gone; restarted {name} (round {rnd})"


def new_round(app: App, task: dict[str, Any], stage: Stage, note: str = "") -> str:
    head = check_branch_ready(app, task, stage)
    asked_at = str(task.get("ttal_review") or "").partition(":")[2]
    if stage.commits and asked_at and head == asked_at:
        raise PreconditionFailed(
            "no new commit since the review lead asked for changes; nothing was changed",
            hint="address the requested changes, commit, then run `ttal go`",
        )
    rnd = int(task.get("ttal_round") or 1)
    if note:
        app.tw.annotate(task["uuid"], f"{stage.name} round {rnd} by {app.caller.name}: {note}")
    app.tw.set(task["uuid"], ttal_review=reviewing(head))
    name = str(task.get("ttal_reviewer") or reviewer_session_name(task["uuid"], stage.name))
    if not app.tmux.has(name):
        _start_reviewer(app, task, stage, rnd)
    note = prompts.new_round_note(task["uuid"][:8], rnd, head or "(no commits)")
    tell(app, name, note, key=f"round:{task['uuid']}:{stage.name}:{rnd}", task=task["uuid"])
    app.state.event("review-round", task["uuid"], app.caller.name, str(rnd))
    return f"asked {name} for review round {rnd}"
