"""The merge queue (docs/merge-queue.md): for a project with a `check` (or a `batch`), an
approved task is queued per base branch, in approval order, and merged only by a check run
whose check passed on exactly the tree that becomes the base (engine/check_runs.py).

Whoever drives the queue (`ttal go` of a queued task, or the `ttal go` that `ttal watch`
and `ttal deliver` start for a queue nobody drives) holds one of the base's `max_checks`
slot locks and runs the queue until it is empty. The queue lives in ttal's database
(adapters/store/merge_queue.py), so a restart or a crash loses nothing: each pass first
settles the runs a dead runner left (`settle`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from ttal import faults
from ttal.adapters import git, git_merge, identity, locks, proc, processes
from ttal.adapters.store.merge_queue import Entry, Run
from ttal.config.model import Project
from ttal.core import merge_queue as rules
from ttal.core.durations import ago
from ttal.core.pipeline import Stage
from ttal.core.plans import plan_merge
from ttal.core.task_view import TaskView
from ttal.engine import check_exec, check_runs, journal, merge_groups, queue_holds
from ttal.engine.app import App
from ttal.engine.lookup import project_for, workplace
from ttal.errors import MergeConflict, PreconditionFailed, Waiting

LIVE = ("building", "running", "passed", "failed", "timed out")  # runs not yet concluded
REBUILDS = 4  # a base that moves under this many runs in a row: stop, the next pass retries


def applies(app: App, task: TaskView) -> str | None:
    """The group the task merges with ("" for none) when it merges through the queue: its
    project has a check or a batch, or it is a child of a group (a change across repos),
    whatever its project. None: today's merge."""
    grp = merge_groups.group_of(app, task.uuid)
    return grp if grp or project_for(app, task).queued else None


def queue_merge(app: App, task: TaskView, stage: Stage, grp: str | None = None) -> str:
    """Action.MERGE through the queue: queue the task, drive its queue (or its group `grp`,
    looked up when not given), say where it is."""
    project = project_for(app, task)
    plan = plan_merge(task, stage, workplace(app, project))
    if plan.worktree.is_dir() and (dirty := git.dirty_paths(plan.worktree)):
        raise PreconditionFailed(
            f"worktree {plan.worktree} has uncommitted changes ({dirty[0]}…) that were not "
            "reviewed; nothing was queued",
            hint="commit them for another review round, or remove them",
        )
    if (entry := app.state.merge_entry(task.uuid)) is not None and entry.grp:
        merge_groups.drive(app, entry.grp)  # a group half landed: any child's go completes it
        if (now := app.state.merge_entry(task.uuid)) is not None and now.state == "merged":
            return _where(app, task, project)
    tip = git.rev(project.repo, f"refs/heads/{plan.branch}")
    if not tip or git.is_ancestor(project.repo, tip, f"refs/heads/{project.base}"):
        from ttal.engine import merge  # on the base already (or gone): today's checks say so

        return merge.merge_task(app, task, stage)
    entry = app.state.merge_entry(task.uuid)
    stale = entry is not None and entry.state == "queued" and entry.tip != tip  # re-reviewed
    grp = merge_groups.group_of(app, task.uuid) if grp is None else grp
    if not grp and not project.queued:  # no longer in a group: merged as today
        from ttal.engine import merge

        app.state.drop_entries([task.uuid])
        return merge.merge_task(app, task, stage)
    if entry is None or stale or entry.state not in ("queued", "testing", "merged"):
        _enqueue(app, task, project, plan.message, stage.tag, tip, entry, grp)
    if grp:
        merge_groups.drive(app, grp)
    else:
        drive(app, project, task.uuid)
    return _where(app, task, project)


def _enqueue(app: App, task: TaskView, project: Project, message: str, tag: str, tip: str,
             entry: Entry | None, grp: str) -> None:  # fmt: skip
    if entry is not None and entry.state == "returned" and entry.tip == tip:
        raise MergeConflict(
            f"task {task.short} was sent back by the merge queue and its branch has no new "
            f"commit since; nothing was queued. {entry.note.splitlines()[0]}",
            hint="fix it on the branch and commit; `ttal go` then has it re-reviewed and queued",
        )
    app.state.enqueue_merge(task.uuid, project.name, project.base, task.branch, tip, tag, message,
                            grp)  # fmt: skip
    app.state.event("merge-queued", task.uuid, app.caller.name, f"{project.name}/{project.base}")


def _where(app: App, task: TaskView, project: Project) -> str:
    entry = app.state.merge_entry(task.uuid)
    if entry is None:
        raise Waiting(f"task {task.short} left the merge queue: its branch moved after "
                      "approval; `ttal go` has it re-reviewed")  # fmt: skip
    if entry.state == "merged":
        return (f"{entry.branch} merged into {project.base} by the merge queue, proved by "
                f"check run #{entry.run}; +{entry.tag}")  # fmt: skip
    if entry.state == "returned":
        raise MergeConflict(entry.note.split("\n")[0],
                            hint="the worker was told; fix, commit, then `ttal go`")  # fmt: skip
    if entry.grp:
        raise Waiting(f"queued with its group {entry.grp[:8]} (a change across repos): it "
                      "merges when every child is approved and checked")  # fmt: skip
    queued = [e.task for e in app.state.merge_entries(project.name, ("queued", "testing"))]
    position = queued.index(task.uuid) + 1 if task.uuid in queued else 0
    where = (f"in the merge queue of {project.name}/{project.base} (position {position} of "
             f"{len(queued)})")  # fmt: skip
    if (hold := queue_holds.hold_of(app, project, lift=False)) is not None:
        raise Waiting(f"{where}, held: {hold.note.partition(' held: ')[2]}",
                      hint=f"a person was told; `ttal journal` has it (#{hold.id})")  # fmt: skip
    raise Waiting(f"{where}; a check run is in progress, `ttal status` shows it")


def slot_lock(app: App, project: Project, slot: int) -> Path:
    return app.lock_dir / f"merge-queue-{project.name}-{slot}.lock"


def drive(app: App, project: Project, mine: str) -> list[str]:
    """Run `project`'s queue until it is empty, if a check slot is free; [] if none is.
    Then the tasks it merged but `mine` (the caller's, which its own `ttal go` finishes)
    are finished, each by its own `ttal go` in the background."""
    for slot in range(project.max_checks):
        with locks.borrowed(slot_lock(app, project, slot), 0) as free:
            if free:
                did = _run_queue(app, project)
                break
    else:
        return []
    return did + finish_merged(app, mine)


def finish_merged(app: App, mine: str) -> list[str]:
    """A run merges every task it took, but a task's `ttal go` that found the queue busy
    has already ended: without this, those waited for a `ttal watch` pass to be cleaned up
    and done (the demo, which runs none, timed out on one). A task still in its own `ttal
    go` finishes itself; so does a task whose go is still running (its finish is idempotent)."""
    # As ttal itself, not as the caller: a review lead may drive only its own task.
    env = identity.without_identity(os.environ)
    started = []
    for uuid in (u for u in merged_unfinished(app) if u != mine):
        proc.start_detached([sys.executable, "-m", "ttal", "go", uuid],
                            log=app.run_dir / "merge-queue.log", env=env)  # fmt: skip
        started.append(f"finishing task {uuid[:8]} in the background")
    return started


def _run_queue(app: App, project: Project) -> list[str]:
    did: list[str] = []
    rebuilds = 0
    while rebuilds < REBUILDS:
        did += settle(app, project)
        if queue_holds.hold_of(app, project):
            break  # the base or the check is broken: nothing runs until it changes
        entries = [e for e in app.state.merge_entries(project.name) if not e.grp]
        queue = [rules.Queued(e.task, e.cap) for e in entries]
        tasks = rules.take(queue, project.batch)
        if not tasks:
            break
        branches = {e.task: e.branch for e in entries}
        # The base and each taken branch in one read (the run checks the branches' tips).
        tips = git_merge.tips(project.repo, [project.base, *(branches[t] for t in tasks)])
        base_tip = tips.get(project.base, "")
        with journal.intent(app, "queue.take", f"take:{project.name}:{tasks[0]}:{time.time()}",
                            tasks[0], tasks=tasks, base_tip=base_tip):  # fmt: skip
            run_id = app.state.take_run(project.name, project.base, tasks, base_tip, os.getpid())
        if not run_id:
            continue
        faults.point("queue.take")
        did.append(check_runs.run(app, project, run_id, tips))
        stale = app.state.check_run(run_id)
        rebuilds = rebuilds + 1 if stale is not None and stale.state == "stale" else 0
    return did


def _abandoned(app: App, project: Project, current: Run) -> bool:
    """The run's runner is gone (or is us, after an error): with one slot, whoever holds
    it is the only runner, so a recorded pid that lives on was reused."""
    if current.owner == os.getpid() or project.max_checks == 1:
        return True
    return not processes.alive(current.owner)


def settle(app: App, project: Project) -> list[str]:
    """Finish or undo the runs a killed runner left: a check still running is stopped
    (with its process group) and its tasks queued again; a finished one is concluded."""
    did = []
    queue_holds.settle(app, project)  # a base check (engine/queue_holds.py) left running
    for current in app.state.check_runs(project.name, LIVE):
        if not _abandoned(app, project, current):
            continue
        if current.grp:
            continue  # a group's child: settled under its group (engine/merge_groups.py)
        if current.state in ("building", "running"):
            did.append(check_runs.abort(app, project, current))
        else:
            check_runs.remove_worktree(app, project, current.id, current.tasks[0])
            did.append(check_runs.conclude(app, project, current))
    return did


def queued_projects(app: App) -> list[Project]:
    """Projects whose queue has tasks waiting for a check run."""
    names = {e.project for e in app.state.merge_entries() if not e.grp}
    return [p for n, p in app.cfg.projects.items() if n in names]


def start_drivers(app: App) -> list[str]:
    """For each queue with waiting tasks and a free slot: a `ttal go` of its head, in the
    background (a check may take long; `ttal watch` must not wait for it)."""
    started = merge_groups.start_drivers(app)
    for project in queued_projects(app):
        with locks.borrowed(slot_lock(app, project, 0), 0) as free:
            if not free:
                continue
        if queue_holds.hold_of(app, project):
            continue
        head = app.state.merge_entries(project.name)[0].task
        log = app.run_dir / "merge-queue.log"
        proc.start_detached([sys.executable, "-m", "ttal", "go", head], log=log)
        started.append(f"merge queue {project.name}: driving from task {head[:8]}")
    return started


def merged_unfinished(app: App) -> list[str]:
    """Tasks the queue merged whose `ttal go` has not finished them (cleanup, done)."""
    return [e.task for e in app.state.merge_entries(states=("merged",))]


def forget(app: App, task: str) -> None:
    app.state.drop_entries([task])


def queue_rows(app: App) -> list[dict[str, Any]]:
    """`ttal status`'s merge queue: each project's running checks (task, how long, the last
    output line), then its waiting and returned tasks in order."""
    rows: list[dict[str, Any]] = []
    now = time.time()
    for current in app.state.check_runs(states=("building", "running")):
        _, log = check_runs.check_paths(app, current.id)
        last = rules.last_lines(check_exec.tail(log), 1)
        rows.append({"project": current.project, "task": current.tasks[0][:8],
                     "state": f"checking #{current.id}",
                     "detail": f"{len(current.tasks)} branch(es), {ago(now - current.started)}: "
                               f"{last or '(no output yet)'}"})  # fmt: skip
    for project, hold in queue_holds.standing(app):  # the base or its check is broken
        rows.append({"project": project.name, "task": "-", "state": "held",
                     "detail": f"{hold.note} (journal #{hold.id})", "journal": hold.id,
                     "command": hold.detail.get("command"),
                     "base_tip": hold.detail.get("base_tip")})  # fmt: skip
    entries = app.state.merge_entries(states=("queued", "returned"))
    for entry in [e for e in entries if not e.grp]:
        rows.append(_entry_row(entry))
    for grp in dict.fromkeys(
        e.grp for e in entries if e.grp
    ):  # a group: one line, then its children
        children = [e for e in entries if e.grp == grp]
        rows.append({"project": ", ".join(sorted({e.project for e in children})),
                     "task": grp[:8], "state": "group",
                     "detail": f"{len(children)} children waiting to merge together"})  # fmt: skip
        rows += [{**_entry_row(e), "task": f"└ {e.task[:8]}"} for e in children]
    return rows


def _entry_row(entry: Entry) -> dict[str, Any]:
    detail = entry.note.split("\n")[0] if entry.state == "returned" else entry.branch
    return {"project": entry.project, "task": entry.task[:8], "state": entry.state,
            "detail": detail}  # fmt: skip
