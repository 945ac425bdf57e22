"""The end of the pipeline: merge, mark done, clean up, tell the spawner."""

from __future__ import annotations

import time
from pathlib import Path

from ttal import faults
from ttal.adapters import git, locks
from ttal.adapters.store.finished import Finished
from ttal.adapters.task_query import epoch
from ttal.config.model import Project
from ttal.core.pipeline import Stage
from ttal.core.plans import plan_merge
from ttal.core.task_view import TaskView
from ttal.engine import apply, journal
from ttal.engine.app import App
from ttal.engine.lookup import project_for, workplace
from ttal.engine.mesh import tell
from ttal.errors import BaseMoved, ChangesGone, MergeConflict, PreconditionFailed


def merge_task(app: App, task: TaskView, stage: Stage) -> str:
    plan = plan_merge(task, stage, workplace(app, project_for(app, task)))
    if plan.worktree.is_dir() and (dirty := git.dirty_paths(plan.worktree)):
        raise PreconditionFailed(
            f"worktree {plan.worktree} has uncommitted changes ({dirty[0]}…) that were not "
            "reviewed; nothing was merged",
            hint="commit them for another review round, or remove them",
        )
    repo = plan.where.repo
    with locks.held(locks.repo_lock(app.lock_dir, repo)):
        base_tip = git.rev(repo, f"refs/heads/{plan.where.base}")
        try:
            result = apply.merge(app, plan)
        except BaseMoved:
            raise  # not the branch's doing: the next `ttal go` merges on the new base
        except MergeConflict as err:
            _report_conflict(app, task, str(err.message), base_tip)
            raise
        except ChangesGone as err:
            _report_gone(app, task, err, base_tip)
            raise
    return apply.merged(app, plan, result)


def _report_gone(app: App, task: TaskView, err: ChangesGone, base_tip: str) -> None:
    """The branch is on the base but its changes are not: never "merged"; its spawner is
    told once per base commit what happened and what to do."""
    note = f"task {task.short}: not merged: {err.message}. {err.hint}"
    key = f"gone:{task.uuid}:{base_tip}"
    if tell(app, task.spawner or "human", note, key=key, task=task.uuid, sender="ttal"):
        app.tw.annotate(task.uuid, f"merge refused: {err.message}")
        app.state.event("merge-refused", task.uuid, app.caller.name, err.message)


def _report_conflict(app: App, task: TaskView, message: str, base_tip: str) -> None:
    key = f"conflict:{task.uuid}:{base_tip}"
    spawner = task.spawner or "human"
    note = f"task {task.short}: {message}"
    if tell(app, spawner, note, key=key, task=task.uuid, sender="ttal"):
        app.tw.annotate(task.uuid, f"merge refused: {message}")
        app.state.event("merge-refused", task.uuid, app.caller.name, message)
    if task.worker_session:
        text = (
            f"merge refused: {message}. Rebase onto the base branch here, resolve, commit, "
            "then run `ttal go`: the review lead re-reviews before the merge."
        )
        tell(app, task.worker_session, text, key=f"{key}:worker", task=task.uuid, sender="ttal")


def finish(app: App, task: TaskView) -> str:
    """Clean up, tell the spawner, then mark the task done. Each part is idempotent."""
    did = cleanup(app, task)
    project = project_for(app, task)
    spawner = task.spawner or "human"
    text = f"task {task.short} merged into {project.name}/{project.base}: {task.description}"
    if tell(app, spawner, text, key=f"merged:{task.uuid}", task=task.uuid, sender="ttal"):
        did.append(f"told {spawner}")
    faults.point("finish.told")
    if task.status == "pending":
        _record_finished(app, task)
        app.tw.done(task.uuid)
        did.append("task done")
    # Out of the merge queue (if it went through it): no driver starts its `ttal go` again.
    # The done is recorded before it is written, so a crash now is repaired by the sweep.
    app.state.drop_entries([task.uuid])
    return "; ".join(did) or "already finished"


def _record_finished(app: App, task: TaskView) -> None:
    """What `ttal status` shows of the task for a day, from ttal's store: its query reads
    pending tasks only (adapters/store/finished.py). Before the done: a crash between the
    two leaves a record and a pending task, and status shows the pending row."""
    app.state.record_finished(Finished(
        task.uuid, task.project, task.description, epoch(task.entry), time.time(),
        task.worker_session, task.reviewer, task.health, task.owner,
    ))  # fmt: skip


def cleanup(app: App, task: TaskView) -> list[str]:
    """Kill the task's sessions, then remove its worktree and branch only once merged."""
    did: list[str] = []
    short = task.short
    ours = [s for s in app.tmux.sessions() if s == f"w-{short}" or s.startswith(f"r-{short}-")]
    # Our own session last: killing it first would end this very command.
    for name in sorted(ours, key=lambda s: s == app.caller.name):
        with journal.intent(app, "session.kill", f"kill:{name}", task.uuid, name=name):
            if app.tmux.kill(name):
                did.append(f"killed {name}")
    faults.point("cleanup.sessions")
    project = project_for(app, task)
    branch, worktree = task.branch, Path(task.worktree)
    tip = git.rev(project.repo, f"refs/heads/{branch}") if branch else ""
    if tip and not _landed(app, project, task, tip):
        return [*did, f"kept {branch}: it has commits not on {project.base}"]
    with locks.held(locks.repo_lock(app.lock_dir, project.repo)):
        if str(worktree) != "." and worktree.is_dir():
            with journal.intent(app, "worktree.remove", f"rm:{worktree}", task.uuid,
                                path=str(worktree), repo=str(project.repo)):  # fmt: skip
                removed = git.remove_worktree(project.repo, worktree)
            did.append(f"removed worktree {worktree}" if removed else
                       f"kept worktree {worktree}: uncommitted changes")  # fmt: skip
        faults.point("cleanup.worktree")
        if branch and tip:
            with journal.intent(app, "branch.delete", f"rm:{branch}", task.uuid,
                                repo=str(project.repo), branch=branch, tip=tip):  # fmt: skip
                if _delete_branch(project, branch, tip):
                    did.append(f"deleted branch {branch}")
        faults.point("cleanup.branch")
    return did


def _landed(app: App, project: Project, task: TaskView, tip: str) -> bool:
    """Are the branch's commits on the base? The remote's, for a project that merges
    through a forge (engine/forge.py)."""
    if project.merge != "local":
        from ttal.engine import forge

        return forge.landed(app, project, task, tip)
    return git.is_ancestor(project.repo, tip, f"refs/heads/{project.base}")


def _delete_branch(project: Project, branch: str, tip: str) -> bool:
    if project.merge != "local":  # landed on the remote's base, checked just before
        return git.delete_ref(project.repo, f"refs/heads/{branch}", tip)
    return git.delete_merged_branch(project.repo, branch, project.base)
