"""A change across repos, merged together (docs/merge-queue.md): a parent task whose
`depends:` children are in projects with a merge queue. Each child has its own worker,
worktree and review; the group merges only when every child is approved and every child's
check passed on its own repo's merge result. Then each base moves in turn, each under its
`merge` intent, after the group's landing record (the merge_groups table): a crash between
two repos is completed, forward, by the next `ttal go` of any child. A child whose check
fails goes back to its worker alone; the others wait, and nothing of the group merges."""

from __future__ import annotations

import os
import sys
from typing import Any

from ttal import faults
from ttal.adapters import git, locks, proc
from ttal.adapters.store.merge_queue import Entry, Run
from ttal.core.task_view import depends_of
from ttal.engine import check_runs, queue_holds
from ttal.engine.app import App

LIVE = ("building", "running", "passed", "failed", "timed out")


def depends(task: dict[str, Any]) -> list[str]:
    """A task's `depends:` uuids (a string on Taskwarrior 2.6, a list on 3.x)."""
    return depends_of(task)


def group_of(app: App, uuid: str) -> str:
    """The pending parent whose children include `uuid`, or ""."""
    if uuid in app.parents:  # read with the task itself (engine/reconcile.read)
        return next(iter(app.parents[uuid]), "")
    for task in app.tw.export("status:pending", "depends.any:"):
        if uuid in depends(task):
            return str(task["uuid"])
    return ""


def drive(app: App, grp: str) -> list[str]:
    """Check and land group `grp` if every child is queued; [] if another ttal drives it."""
    with locks.borrowed(app.lock_dir / f"merge-group-{grp}.lock", 0) as mine:
        return _drive(app, grp) if mine else []


def _drive(app: App, grp: str) -> list[str]:
    did = _settle(app, grp)
    record = app.state.merge_group(grp)
    if record is not None and record[0] == "merged":
        return did
    children = depends(app.tw.get(grp))
    entries = {c: app.state.merge_entry(c) for c in children}
    done = {c for c, e in entries.items() if _done(app, c, e)}
    # Landed but not yet tagged: another child's base moved during the landing (rebuilt).
    landing = set(record[1]) if record is not None and record[0] == "landing" else set()
    held = [e.run for e in entries.values() if e and e.state == "testing" and e.run in landing]
    todo = [c for c in children
            if c not in done and not ((e := entries[c]) is not None and e.run in held)]  # fmt: skip
    waiting = [c for c in todo if (e := entries[c]) is None or e.state != "queued"]
    if waiting:
        return [*did, f"group {grp[:8]}: waiting for {len(waiting)} of {len(children)} children"]
    projects = dict.fromkeys(e.project for c in todo if (e := entries[c]) is not None)
    if stuck := [p for p in projects if queue_holds.hold_of(app, app.cfg.project(p))]:
        return [*did, f"group {grp[:8]}: waiting, the merge queue of {stuck[0]} is held"]
    runs: list[int] = []
    for child in todo:
        current = _check_child(app, grp, child)
        if current is None or current.state != "passed":
            _unwind(app, runs)
            project = app.cfg.project(entries[child].project)  # type: ignore[union-attr]
            if queue_holds.hold_of(app, project):  # its base failed too: no one is blamed
                return [
                    *did,
                    f"group {grp[:8]}: waiting, the merge queue of {project.name} is held",
                ]
            return [*did, f"group {grp[:8]}: child {child[:8]} sent back; the others wait"]
        runs.append(current.id)
    if runs:
        app.state.set_merge_group(grp, "landing", held + runs)
    return did + _land(app, grp, held + runs)


def _done(app: App, child: str, entry: Entry | None) -> bool:
    """Merged by the group; once finished (`task done`) its queue entry is gone."""
    if entry is not None:
        return entry.state == "merged"
    return app.tw.get(child).get("status") == "completed"


def _check_child(app: App, grp: str, child: str) -> Run | None:
    entry = app.state.merge_entry(child)
    assert entry is not None
    project = app.cfg.project(entry.project)
    base_tip = git.rev(project.repo, f"refs/heads/{project.base}")
    run_id = app.state.take_run(project.name, project.base, [child], base_tip, os.getpid(), grp)
    if not run_id:
        return None
    current = check_runs.test(app, project, run_id)
    if current is not None and current.state != "passed":
        check_runs.conclude(app, project, current)  # sends this child back
    return current


def _unwind(app: App, runs: list[int]) -> None:
    """A child failed: the others' green runs are not merged; they are checked again later."""
    for run_id in runs:
        app.state.requeue_run(run_id, {})
        app.state.update_run(run_id, state="stale")


def _land(app: App, grp: str, runs: list[int]) -> list[str]:
    """Move each child's base to its checked commit, in order, then tag every child: no
    child is `+merged` before every base moved, so each child's `ttal go` still reaches
    its merge step and completes a group a crash left half landed. Idempotent, and only
    forward: a base moved by someone else meanwhile means that child is rebuilt and
    checked again, then lands."""
    did = []
    passed = [r for r in (app.state.check_run(i) for i in runs) if r and r.state == "passed"]
    landed = []
    for n, current in enumerate(passed):
        project = app.cfg.project(current.project)
        if check_runs.move(app, project, current):
            landed.append(current)
        else:
            did.append(check_runs.rebuild(app, current))
        if n == 0 and len(passed) > 1:
            faults.point("group.second")
    if len(landed) < len(passed):
        return did  # the rest lands after its rebuild, on a later pass
    for current in landed:
        did.append(check_runs.conclude(app, app.cfg.project(current.project), current))
    states = [r.state for r in (app.state.check_run(i) for i in runs) if r is not None]
    if states and all(s == "merged" for s in states):
        children = depends(app.tw.get(grp))
        if all(_done(app, c, app.state.merge_entry(c)) for c in children):
            app.state.set_merge_group(grp, "merged", runs)
            app.state.event("group-merged", grp, app.caller.name,
                            f"{len(children)} children, runs {runs}")  # fmt: skip
    return did


def _settle(app: App, grp: str) -> list[str]:
    """What a killed driver of this group left (we hold its lock: any owner is gone)."""
    did = []
    record = app.state.merge_group(grp)
    if record is not None and record[0] == "landing":
        did += _land(app, grp, record[1])
    landing = set(record[1]) if record is not None and record[0] == "landing" else set()
    for current in app.state.check_runs(states=LIVE):
        if current.grp != grp or current.id in landing:
            continue
        project = app.cfg.project(current.project)
        if current.state in ("building", "running"):
            did.append(check_runs.abort(app, project, current))
            continue
        check_runs.remove_worktree(app, project, current.id, current.tasks[0])
        if current.state == "passed":
            _unwind(app, [current.id])  # checked again with the rest of its group
        else:
            did.append(check_runs.conclude(app, project, current))
    return did


def start_drivers(app: App) -> list[str]:
    """A group left half landed (its driver died between two repos), in the background:
    `ttal watch` and `ttal deliver` complete it without waiting for a child's `ttal go`."""
    started = []
    entries = [e for e in app.state.merge_entries(states=("queued", "testing", "merged")) if e.grp]
    for grp in dict.fromkeys(e.grp for e in entries):
        record = app.state.merge_group(grp)
        if record is None or record[0] != "landing":
            continue
        with locks.borrowed(app.lock_dir / f"merge-group-{grp}.lock", 0) as free:
            if not free:
                continue
        child = next(e.task for e in entries if e.grp == grp)
        proc.start_detached([sys.executable, "-m", "ttal", "go", child],
                            log=app.run_dir / "merge-queue.log")  # fmt: skip
        started.append(f"merge group {grp[:8]}: completing it from task {child[:8]}")
    return started
