"""`ttal review approve|changes`: the review lead's verdict, and `ttal approve` for people."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ttal import faults
from ttal.adapters import git, locks, proc
from ttal.core import prompts
from ttal.core.pipeline import Stage, current_stage, last_review_stage
from ttal.engine import drive, reconcile
from ttal.engine.app import App
from ttal.engine.lookup import check_paths, pipeline_for, resolve_uuid, task_view
from ttal.engine.mesh import tell
from ttal.errors import Forbidden, PreconditionFailed, ReviewTouched


def _review_in_progress(app: App, task: dict[str, Any]) -> Stage:
    view = task_view(task)
    stage = last_review_stage(pipeline_for(app, task), view)
    if stage is None or view.status != "pending":
        raise PreconditionFailed(
            f"task {task['uuid'][:8]} has no review in progress; nothing was changed",
            hint="`ttal status` shows where it is",
        )
    return stage


def _reviewer_task(app: App) -> str:
    """The review lead's task (its uuid: the verdict reads it under the task's lock)."""
    if app.caller.role != "reviewer":
        raise Forbidden(
            f"only a review lead gives a verdict (you are {app.caller.role} {app.caller.name})",
            hint="review leads are spawned by `ttal go` once a worker's stage is coded",
        )
    return resolve_uuid(app, None)


@dataclass(frozen=True)
class Approved:
    task: str
    stage: str
    tag: str  # the stage's approve tag, now on the task
    round: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChangesRequested:
    task: str
    stage: str
    round: int  # the next round
    delivered_to: str  # the worker, or the owner of a role stage

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def approve(app: App, note: str, continue_in_background: bool = True) -> Approved:
    uuid = _reviewer_task(app)
    # One read under the task's lock; the verdict's writes go out in one call at the end.
    with locks.held(locks.task_lock(app.lock_dir, uuid)), _held(app, uuid) as task:
        stage = _review_in_progress(app, task)
        rnd = int(task.get("ttal_round") or 1)
        view = task_view(task)
        check_paths(app, view)  # the verdict reads git in its worktree
        if stage.approve_tag not in view.tags or view.review_state != "approved":
            _check_untouched(app, task, stage, "approve")
            head = git.rev(Path(str(task.get("ttal_worktree"))), "HEAD")
            text = f"approved by {app.caller.name} (round {rnd}, {head[:10]})"
            text += f": {note}" if note else ""
            # The approval is pinned to this commit: anything committed later is re-reviewed.
            changes = ["ttal_review:approved", f"ttal_reviewed:{head}"]
            if stage.approve_tag not in view.tags:
                changes.append(f"+{stage.approve_tag}")
            app.tw.modify(uuid, *changes)
            faults.point("review.approved")
            app.tw.annotate(uuid, f"review {stage.name}: {text}")
            app.state.event("approved", uuid, app.caller.name, text)
    if continue_in_background:
        _continue_detached(app, uuid)
    return Approved(uuid, stage.name, stage.approve_tag, rnd)


@contextmanager
def _held(app: App, uuid: str) -> Iterator[dict[str, Any]]:
    """The task, read once (with ttal's writes a person's report undid) and held: the
    block's writes are checked against it and made in one `task` call as it ends."""
    with app.tw.carry(reconcile.read(app, uuid)) as held:
        yield held.row


def _check_untouched(app: App, task: dict[str, Any], stage: Stage, verdict: str) -> None:
    """A review lead is read-only, but it runs commands (Claude Code's review leads lose only
    the edit tools; Bash can still write). So its verdict stands only on the worktree it was
    given: clean, at the commit its round began with (ttal_review `reviewing:<commit>`).
    Otherwise it is refused and nothing changes: what was written stays where it is."""
    worktree = Path(str(task.get("ttal_worktree") or ""))
    if not stage.commits or not worktree.is_dir():
        return  # a plan or other note: no commit is under review
    given = str(task.get("ttal_review") or "").partition(":")[2]
    head = git.rev(worktree, "HEAD")
    if given and head != given:
        log = git.log_lines(worktree, given, head)
        what = f"HEAD of {worktree} moved during this review round, from {given[:10]} to "
        what += f"{head[:10]} ({'; '.join(log[:3]) or 'history rewritten'})"
        _refuse(verdict, what, MOVED_HINT.format(given=given[:10]))
    dirty = git.dirty_paths(worktree)
    if dirty:
        shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
        what = f"{worktree} has changes that are not in the commit under review: {shown}"
        _refuse(verdict, what, DIRTY_HINT)


MOVED_HINT = (
    "a review lead does not commit: if these commits are yours, undo them with "
    "`git reset --keep {given}` (they stay in the reflog), then give your verdict again; "
    'if the worker made them, tell its spawner: `ttal alert "..."`'
)
DIRTY_HINT = (
    "a review lead is read-only: if you made them, undo them (`git stash -u` keeps a copy) "
    'and give your verdict again, with what should change in `ttal review changes "..."`; '
    'if the worker made them, tell its spawner: `ttal alert "..."`'
)


def _refuse(verdict: str, what: str, hint: str) -> None:
    raise ReviewTouched(f"{what}; {verdict} refused: nothing was changed or removed", hint=hint)


def _continue_detached(app: App, uuid: str) -> None:
    """Drive the next steps (often the merge) in a process of its own: the merge's cleanup
    kills this review session, and a child of it would die with it."""
    proc.start_detached(
        [sys.executable, "-m", "ttal", "go", uuid],
        log=app.run_dir / f"continue-{uuid[:8]}.log",
        cwd=app.cfg.state_dir,
    )


def request_changes(app: App, message: str) -> ChangesRequested:
    if not message.strip():
        raise PreconditionFailed("say what must change: the message is empty")
    uuid = _reviewer_task(app)
    with locks.held(locks.task_lock(app.lock_dir, uuid)), _held(app, uuid) as task:
        stage = _review_in_progress(app, task)
        view = task_view(task)
        check_paths(app, view)  # the verdict reads git in its worktree
        if view.review_state == "approved":
            raise PreconditionFailed(f"task {uuid[:8]} is already approved; nothing was changed")
        rnd = view.review_round or 1
        if view.review_state != "changes":  # a second note in one round adds no round
            _check_untouched(app, task, stage, "changes")
            head = git.rev(Path(str(task.get("ttal_worktree"))), "HEAD")
            app.tw.set(uuid, ttal_review=f"changes:{head}", ttal_round=rnd + 1)
            app.tw.annotate(uuid, f"review {stage.name} round {rnd}: changes requested: {message}")
        # A role stage (a designer's plan) goes back to its owner; code goes to the worker.
        worker = str(task.get("ttal_owner") if stage.role else task.get("ttal_session") or "")
        worker = worker or f"w-{uuid[:8]}"
        key = f"changes:{uuid}:{rnd}:{message}"
        tell(app, worker, prompts.changes_note(app.caller.name, rnd, message), key, uuid)
        app.state.event("changes-requested", uuid, app.caller.name, message)
    return ChangesRequested(uuid, stage.name, rnd + 1, worker)


def human_approve(app: App, ref: str) -> drive.Outcome:
    """A person passes a human gate. The approval is recorded on the task (ttal_approved),
    so it is never asked twice; then `ttal go` drives on from the same read, under the same
    lock, and writes the approval with what follows in one call."""
    if not app.caller.is_person:
        raise Forbidden(
            f"only a person approves a human gate (you are {app.caller.role} {app.caller.name})",
            hint="run `ttal approve` from your own shell, outside ttal's sessions",
        )
    uuid = resolve_uuid(app, ref)
    passed: list[str] = []

    def approve_gate(app: App, task: dict[str, Any]) -> drive.Outcome | None:
        view = task_view(task)
        check_paths(app, view)  # before an approval that would merge its branch
        stage = current_stage(pipeline_for(app, task), view)
        if view.status == "completed" or stage is None:
            outcome = drive.Outcome(task=uuid, description=str(task.get("description", "")))
            outcome.message = "already merged; nothing to approve"
            return outcome
        if stage.gate != "human":
            where = f"stage: {stage.name}"
            raise PreconditionFailed(f"task {uuid[:8]} is not at a human gate ({where})")
        if stage.kind == "work" and stage.tag not in view.tags:
            raise PreconditionFailed(f"the worker has not finished stage {stage.name} yet")
        approved = sorted(view.approved | {stage.name})
        app.tw.set(uuid, ttal_approved=",".join(approved))
        app.tw.annotate(uuid, f"{stage.name} approved by a person")
        app.state.event("human-approved", uuid, "human", stage.name)
        passed.append(stage.name)
        return None

    outcome = drive.go(app, uuid, first=approve_gate)
    if passed:
        outcome.did.insert(0, f"approved stage {passed[0]}")
    return outcome
