"""One check run of the merge queue (engine/merge_queue.py takes it from the queue): build
the base plus each taken branch merged in turn (git_merge.build, no checkout touched),
run the project's check on exactly that tree in a throwaway worktree, then conclude. A
green run moves the base once, by compare-and-swap under a `merge` intent, to the commit
that passed; a red one is split in halves (core/merge_queue), or, down to one branch,
sends that branch back to its worker, unless the base alone fails the check too (or the
check cannot run at all): then the project's queue is held instead (engine/queue_holds.py).
A base moved by someone else meanwhile is a rebuild, never a merge of an untested tree.

Every step is recorded in the check_runs row before the next starts, so `settle` finishes
or undoes what a killed runner left: each TTAL_FAULT point here is covered by
tests/test_merge_queue_crash.py."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from ttal import faults
from ttal.adapters import git, git_merge, locks, proc
from ttal.adapters.store.merge_queue import Entry, Run
from ttal.config.model import Project
from ttal.core import merge_queue as rules
from ttal.core.task_view import TaskView
from ttal.engine import check_exec, journal, queue_holds
from ttal.engine.app import App
from ttal.engine.lookup import task_view
from ttal.engine.mesh import tell


def run(app: App, project: Project, run_id: int, tips: dict[str, str] | None = None) -> str:
    """Build, check and conclude run `run_id` (its tasks were just taken; `tips`: their
    branches' commits, read when they were, git_merge.tips)."""
    current = test(app, project, run_id, tips)
    if current is None:
        return f"check run #{run_id}: nothing left to test"
    return conclude(app, project, current)


def test(app: App, project: Project, run_id: int, tips: dict[str, str] | None = None) -> Run | None:
    """Build and check run `run_id`; None when nothing was left to test (all conflicted).
    `tips`: each branch's commit, read as the tasks were taken (a branch missing from it,
    or no `tips`, is read here)."""
    current = _run(app, run_id)
    entries = _entries(app, current)
    parts = []
    for task in current.tasks:
        entry = entries[task]
        now = tips.get(entry.branch, "") if tips is not None else ""
        if (now or git.rev(project.repo, f"refs/heads/{entry.branch}")) != entry.tip:
            app.state.drop_entries([task])  # its next `ttal go` has it re-reviewed first
            app.state.event("merge-dequeued", task, app.caller.name,
                            f"{entry.branch} moved after its approval")  # fmt: skip
            continue
        message = rules.merge_message(entry.message, run_id, project.check)
        parts.append((task, entry.branch, entry.tip, message))
    built = git_merge.build(project.repo, project.base, current.base_tip, parts)
    for task, why in built.conflicts:
        send_back(app, entries[task], current, why, "conflicts")
    app.state.update_run(run_id, result=built.commit, tested=list(built.merged))
    if not built.merged:
        app.state.update_run(run_id, state="returned", ended=time.time())
        return None
    if project.check:
        _check(app, project, _run(app, run_id))
    else:
        app.state.update_run(run_id, state="passed", ended=time.time())
    return _run(app, run_id)


def abort(app: App, project: Project, current: Run) -> str:
    """A run whose runner died before its check ended: stop the check (its process group,
    found by the run's mark), remove its worktree, queue its tasks again."""
    if current.pgid:
        proc.stop_group(current.pgid, marker=check_exec.marker(f"run-{current.id}"))
    remove_worktree(app, project, current.id, current.tasks[0])
    app.state.requeue_run(current.id, {})
    app.state.update_run(current.id, state="aborted", ended=time.time())
    what = f"check run #{current.id} aborted: its runner died; queued again"
    app.state.event("check-aborted", current.tasks[0], app.caller.name, what)
    return what


def _run(app: App, run_id: int) -> Run:
    found = app.state.check_run(run_id)
    assert found is not None, run_id
    return found


def _entries(app: App, current: Run) -> dict[str, Entry]:
    found = app.state.merge_entries(current.project, ("testing",))
    return {e.task: e for e in found if e.run == current.id}


def check_paths(app: App, run_id: int) -> tuple[Path, Path]:
    """The run's throwaway worktree and its log, under state_dir."""
    return check_exec.paths(app, f"run-{run_id}")


def _check(app: App, project: Project, current: Run) -> None:
    path, log = check_paths(app, current.id)
    head = current.tested[0]
    check_exec.add_worktree(app, project, path, current.result, head)
    app.state.update_run(current.id, state="running", worktree=str(path), log=str(log))
    what = f"check run #{current.id} of {len(current.tested)} on {project.base}"
    app.state.event("check-started", head, app.caller.name, what)

    def started(pid: int) -> None:
        app.state.update_run(current.id, pgid=pid)
        faults.point("check.start")

    done = check_exec.run_check(app, project, f"run-{current.id}", head, started)
    state = "timed out" if done.timed_out else "passed" if done.code == 0 else "failed"
    what = rules.verdict(state, done.code, done.seconds)
    app.state.update_run(current.id, state=state, code=done.code, ended=time.time(),
                         last=rules.last_lines(check_exec.tail(log)))  # fmt: skip
    for task in current.tested:
        app.state.event(f"check-{state.replace(' ', '-')}", task, app.caller.name,
                        f"check run #{current.id}: {what}; log {log}")  # fmt: skip
    faults.point("check.done")
    remove_worktree(app, project, current.id, head)


def remove_worktree(app: App, project: Project, run_id: int, task: str) -> None:
    check_exec.remove_worktree(app, project, check_paths(app, run_id)[0], task)


def conclude(app: App, project: Project, current: Run) -> str:
    """Act on a finished check: land a green run, split or send back a red one."""
    if current.state == "passed":
        return _land(app, project, current)
    if current.state in rules.FAILED:
        return _red(app, project, current)
    return f"check run #{current.id}: {current.state}"


def move(app: App, project: Project, current: Run) -> bool:
    """Move the base to the run's checked commit (True also when it is there already);
    False, changing nothing, when the base moved meanwhile (the run must be rebuilt)."""
    repo, base = project.repo, project.base
    with locks.held(locks.repo_lock(app.lock_dir, repo)):
        tip = git.rev(repo, f"refs/heads/{base}")
        if tip == current.base_tip:  # the usual case: result is built on it, so not in it
            return _move_base(app, project, current)
        landed = tip == current.result or git.is_ancestor(repo, current.result, tip)
    return landed


def _land(app: App, project: Project, current: Run) -> str:
    base = project.base
    if not move(app, project, current):
        return rebuild(app, current)
    faults.point("queue.cas")
    tasks = {t["uuid"]: t for t in app.tw.export(*current.tested)}
    for task in current.tested:
        entry = app.state.merge_entry(task)
        if entry is not None and entry.state != "merged":
            if entry.tag not in (tasks.get(task, {}).get("tags") or []):
                app.tw.add_tags(task, [entry.tag])
            _tell_merged(app, task_view(tasks[task]), current, base)
            app.state.event("merged", task, app.caller.name, f"{entry.branch} merged into "
                            f"{base}, proved by check run #{current.id}")  # fmt: skip
            app.state.set_entries([task], state="merged", run=current.id)
    app.state.update_run(current.id, state="merged")
    return (
        f"check run #{current.id}: {len(current.tested)} merged into {base} ({current.result[:10]})"
    )


def _tell_merged(app: App, task: TaskView, current: Run, base: str) -> None:
    """The spawner's "merged" message, naming the run that proved it; its key is the one
    engine/merge.finish uses, so finishing the task later does not say it twice."""
    proof = f"proved by the merge queue's check run #{current.id}; log {current.log or 'none'}"
    text = f"task {task.short} merged into {current.project}/{base}: {task.description} ({proof})"
    tell(app, task.spawner or "human", text, key=f"merged:{task.uuid}", task=task.uuid,
         sender="ttal")  # fmt: skip


def _move_base(app: App, project: Project, current: Run) -> bool:
    message = f"merge queue: check run #{current.id} ({len(current.tested)} branches)"
    with journal.intent(app, "merge", f"mq:{current.id}", current.tested[0], run=current.id,
                        repo=str(project.repo), base=project.base) as iid:  # fmt: skip
        record = partial(journal.update, app, iid)
        return git_merge.advance(project.repo, project.base, current.base_tip, current.result,
                                 message, record)  # fmt: skip


def rebuild(app: App, current: Run) -> str:
    """The base moved under the run (a person's push): test again on the new base."""
    app.state.requeue_run(current.id, {})
    app.state.update_run(current.id, state="stale")
    what = f"check run #{current.id}: {current.base} moved meanwhile; rebuilding"
    app.state.event("check-stale", current.tested[0], app.caller.name, what)
    return what


def _red(app: App, project: Project, current: Run) -> str:
    # Before anyone is blamed: a check that cannot run at all, or a lone branch (a batch
    # is halved first), is tried on the base alone; red there too, the project is held.
    alone = len(current.tested) == 1
    blame = (alone or rules.cannot_run(current.state, current.code)) and project.check
    if blame and (held := queue_holds.blame_base(app, project, current)):
        return held
    if not alone:
        app.state.requeue_run(current.id, rules.caps_after_red(current.tested))
        app.state.update_run(current.id, state="split")
        return f"check run #{current.id} {current.state}: testing its halves"
    entry = app.state.merge_entry(current.tested[0])
    if entry is not None and entry.state == "testing":
        tail = current.last or "(no output)"
        what = rules.verdict(current.state, current.code, max(0.0, current.ended - current.started))
        note = rules.returned_note(entry.task[:8], current.id, what, current.log, tail)
        send_back(app, entry, current, note, current.state)
    app.state.update_run(current.id, state="returned")
    return f"check run #{current.id} {current.state}: task {current.tested[0][:8]} sent back"


def send_back(app: App, entry: Entry, current: Run, note: str, why: str) -> None:
    """The task goes back to its worker: told (once per run), annotated, out of the queue
    until its branch has a new commit (that commit is re-reviewed first)."""
    task = task_view(app.tw.get(entry.task))
    key = f"mq-back:{entry.task}:{current.id}"
    if tell(app, task.spawner or "human", note, key=key, task=entry.task, sender="ttal"):
        app.tw.annotate(entry.task, f"merge queue: {why} (check run #{current.id}, log "
                        f"{current.log or 'none'})")  # fmt: skip
        app.state.event("merge-returned", entry.task, app.caller.name,
                        f"check run #{current.id}: {why}")  # fmt: skip
    if task.worker_session:
        tell(app, task.worker_session, note, key=f"{key}:worker", task=entry.task, sender="ttal")
    app.state.set_entries([entry.task], state="returned", run=current.id, note=note)
