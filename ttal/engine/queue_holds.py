"""A red check that is not the branch's (docs/merge-queue.md, "When the base or the check
is broken"). Before the queue sends a task back (a lone branch, or the smallest half of a
red batch), or at once when the check could not run at all (exit 126/127), it runs the
project's check once on the base alone: cached per base commit and check command, so at
most one extra run per base tip. The base passes: the task goes back as before. The base
fails too: no task is blamed; the project's queue is held and a person is told once.

A hold is a flagged `queue.hold` intent of the journal, so `ttal journal` and `ttal
status` list it, and `ttal journal resolve` lifts it by hand (a retry as it is, with the
base's check run again). It lifts by itself once the project's check command or its base
moves (hold_of, on each driver's pass and each `ttal watch` pass). Every step is written
before the next (the base check's row, the hold, the run's tasks queued again), so a
killed driver's successor completes it: a run left red is concluded again and finds the
cached base result and the hold already made (fault point `check.base`)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from ttal import faults
from ttal.adapters import git, locks, proc
from ttal.adapters.store.merge_queue import BaseCheck, Run
from ttal.config.model import Project
from ttal.core import merge_queue as rules
from ttal.engine import check_exec, journal
from ttal.engine.app import App
from ttal.engine.journal import Intent
from ttal.engine.mesh import tell

HOLD = "queue.hold"


def hold_of(app: App, project: Project, lift: bool = True) -> Intent | None:
    """The project's hold while it holds. One whose check command or base changed since is
    lifted here (with `lift`; without, as `ttal status` reads it, only not returned)."""
    holds = _holds(app, project.name)
    if not holds:
        return None
    tip = git.rev(project.repo, f"refs/heads/{project.base}")
    found = None
    for item in holds:
        if not (why := _lifted(project, item, tip)):
            found = item
        elif lift:
            journal.finish(app, item.id, "done", f"lifted: {why}")
            app.state.event("merge-queue-resumed", item.task, app.caller.name,
                            f"{project.name}/{project.base}: {why}")  # fmt: skip
    return found


def standing(app: App) -> list[tuple[Project, Intent]]:
    """Every project's hold that still holds (a read: nothing is lifted), for `ttal status`."""
    found = []
    for item in app.state.intents(("flagged",)):
        project = app.cfg.projects.get(str(item.detail.get("project")))
        if item.action == HOLD and project is not None:
            tip = git.rev(project.repo, f"refs/heads/{project.base}")
            found += [(project, item)] if not _lifted(project, item, tip) else []
    return found


def _lifted(project: Project, item: Intent, tip: str) -> str:
    held = (str(item.detail.get("command")), str(item.detail.get("base_tip")))
    return rules.lifted(held, (project.check, tip))


def _holds(app: App, name: str) -> list[Intent]:
    flagged = app.state.intents(("flagged",))
    return [i for i in flagged if i.action == HOLD and i.detail.get("project") == name]


def blame_base(app: App, project: Project, current: Run) -> str:
    """For red run `current`: "" when its base alone passes the check (the branch is to
    blame); else the project is held, the run's tasks wait in the queue, and what was done."""
    found = base_check(app, project, current)
    if found.state == "passed":
        return ""
    if git.rev(project.repo, f"refs/heads/{project.base}") != current.base_tip:
        what = f"check run #{current.id}: {project.base} moved meanwhile; rebuilding"
        app.state.requeue_run(current.id, {})  # maybe a person's fix: tried on the new base
        app.state.update_run(current.id, state="stale")
        app.state.event("check-stale", current.tested[0], app.caller.name, what)
        return what
    entry = _hold(app, project, found, current)
    app.state.requeue_run(current.id, {})
    app.state.update_run(current.id, state="held")
    return (f"check run #{current.id} {current.state}: {project.base} alone fails it too; "
            f"the merge queue of {project.name} is held (journal #{entry})")  # fmt: skip


def base_check(app: App, project: Project, current: Run) -> BaseCheck:
    """The check on `current`'s base alone: cached, or run now (one at a time per project;
    a run a killed driver left is stopped and forgotten first)."""
    with locks.held(_lock(app, project)):
        reap(app, project)
        for found in app.state.base_checks(project.name, current.base_tip, project.check):
            if not _retried(app, found):
                return found
            app.state.drop_base_check(found.id)  # a person asked for a retry
        return _run(app, project, current)


def _lock(app: App, project: Project) -> Path:
    return app.lock_dir / f"base-check-{project.name}.lock"


def settle(app: App, project: Project) -> None:
    """What a killed driver's base check left, unless another driver runs one now."""
    if not app.state.base_checks(project.name, states=("running",)):
        return  # the usual case: one query, no lock
    with locks.borrowed(_lock(app, project), 0) as free:
        if free:
            reap(app, project)


def reap(app: App, project: Project) -> None:
    """Base checks left running by a killed driver (the caller holds the project's base
    check lock, so none is ours): their processes stopped, worktrees removed, rows gone."""
    for found in app.state.base_checks(project.name, states=("running",)):
        mark = f"base-{found.id}"
        if found.pgid:
            proc.stop_group(found.pgid, marker=check_exec.marker(mark))
        check_exec.remove_worktree(app, project, check_exec.paths(app, mark)[0], "")
        app.state.drop_base_check(found.id)


def _retried(app: App, found: BaseCheck) -> bool:
    """A person resolved a hold that rests on this result (`ttal journal resolve`)."""
    resolved = app.state.intents(("resolved",))
    return any(i.action == HOLD and i.detail.get("check") == found.id for i in resolved)


def _run(app: App, project: Project, current: Run) -> BaseCheck:
    check_id = app.state.start_base_check(project.name, current.base_tip, project.check)
    mark, task = f"base-{check_id}", current.tested[0]
    path, log = check_exec.paths(app, mark)
    check_exec.add_worktree(app, project, path, current.base_tip, task)

    def started(pid: int) -> None:
        app.state.update_base_check(check_id, pgid=pid)
        faults.point("check.base")

    done = check_exec.run_check(app, project, mark, task, started)
    state = "timed out" if done.timed_out else "passed" if done.code == 0 else "failed"
    app.state.update_base_check(check_id, state=state, code=done.code, ended=time.time(),
                                last=rules.last_lines(check_exec.tail(log)))  # fmt: skip
    what = rules.verdict(state, done.code, done.seconds)
    app.state.event(f"base-check-{state.replace(' ', '-')}", task, app.caller.name,
                    f"{project.base} {current.base_tip[:10]} alone: {what}; log {log}")  # fmt: skip
    check_exec.remove_worktree(app, project, path, task)
    found = app.state.base_checks(project.name, current.base_tip, project.check)
    return next(f for f in found if f.id == check_id)


def _hold(app: App, project: Project, found: BaseCheck, current: Run) -> int:
    """Hold the project's queue on base check `found` and tell a person once; the hold a
    killed driver already made is kept (its message is keyed, so never said twice)."""
    hold_of(app, project)  # one resting on another command or base tip is lifted first
    made = [i.id for i in _holds(app, project.name) if i.detail.get("check") == found.id]
    _, log = check_exec.paths(app, f"base-{found.id}")
    entry = made[0] if made else journal.begin(
        app, HOLD, f"hold:{project.name}:{found.id}", current.tested[0], project=project.name,
        base=project.base, base_tip=found.base_tip, command=found.command, code=found.code,
        check=found.id, run=current.id, log=str(log))  # fmt: skip
    what = rules.verdict(found.state, found.code, max(0.0, found.ended - found.started))
    note = rules.held_note(f"{project.name}/{project.base}", found.command, found.base_tip, what,
                           found.code, str(log), found.last, entry)  # fmt: skip
    if not made:
        journal.finish(app, entry, "flagged", note.split("\n")[0])
        app.state.event("merge-queue-held", current.tested[0], app.caller.name, note.split("\n")[0])
    faults.point("queue.held")
    # Told once: a check that cannot run, once per command (whatever the base does meanwhile).
    sha = hashlib.sha1(found.command.encode()).hexdigest()[:12]
    cannot = found.code in rules.CANNOT_RUN
    key = f"mq-held:{project.name}:{sha}" if cannot else f"mq-held:{project.name}:{found.id}"
    tell(app, "human", note, key=key, task=current.tested[0], sender="ttal")
    return entry
