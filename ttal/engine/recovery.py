"""Settle the intents a crash left pending: look at the world, then complete, skip (the next
`ttal go` redoes it after its own checks) or flag for a person. Nothing irreversible is
ever retried blind. The spawn slots of spawners killed mid-spawn are freed here too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ttal.adapters import git, git_checkout, locks
from ttal.adapters.store.queues import InFlight
from ttal.engine import journal, reconcile, spawn_queue
from ttal.engine import sweep as sweeps
from ttal.engine.app import App
from ttal.engine.journal import Intent
from ttal.errors import TtalError


def recover(
    app: App, task: str = "", standing: bool = False, sweep: bool = True
) -> list[dict[str, Any]]:
    """Settle `task`'s stale intents (every task's: then also free the slots of spawners
    killed mid-spawn and, with `sweep`, write again what Taskwarrior lost of ttal's
    writes, engine/reconcile.py). `standing`: list the writes flagged as changed by
    someone else too. Refused, changing nothing, when Taskwarrior shows no tasks at all
    beside ttal's live ones (engine/sweep.py)."""
    if sweep and not task:
        sweeps.require_evidence(app, "recover")
    settled = []
    for item in journal.stale(app, task):
        state, note = _settle(app, item)
        journal.finish(app, item.id, state, note)
        app.state.event(
            f"recovered-{state}", item.task, "ttal", f"#{item.id} {item.action}: {note}"
        )
        settled.append({**item.as_dict(), "state": state, "note": note})
    if not task:  # slots of spawns killed mid-spawn (engine/spawn_queue.py)
        settled += [_freed(f) for f in spawn_queue.free_dead(app)]
    if sweep and not task:
        settled += reconcile.sweep(app)
    if standing:
        settled += reconcile.standing_conflicts(app)
    return settled


def _freed(flight: InFlight) -> dict[str, Any]:
    note = f"freed the slot of {flight.session}: its spawner (pid {flight.pid}) died mid-spawn"
    return {"id": 0, "action": "spawn.slot", "task": flight.task, "state": "done", "note": note}


def _settle(app: App, item: Intent) -> tuple[str, str]:
    detail = item.detail
    if item.action == "merge":
        return _settle_merge(app, detail)
    if item.action in ("worktree.add", "worktree.remove"):
        exists = Path(str(detail.get("path"))).exists()
        done = exists if item.action == "worktree.add" else not exists
        return ("done", "the worktree is as intended") if done else _redo(item)
    if item.action in ("session.start", "session.kill"):
        running = app.tmux.has(str(detail.get("name")))
        done = running if item.action == "session.start" else not running
        return ("done", "the session is as intended") if done else _redo(item)
    if item.action in ("queue.take", "check.run", "queue.hold"):  # its runs: merge_queue.settle
        return "done", "the merge queue settles its check runs on its next pass"
    if item.action == "task.dedupe":
        return reconcile.settle_dedupe(app, item.task, dict(detail.get("row") or {}))
    if item.action == "branch.delete":
        repo, branch = Path(str(detail.get("repo"))), str(detail.get("branch"))
        if not git.rev(repo, f"refs/heads/{branch}"):
            return "done", "the branch is gone"
        return _redo(item)
    if item.action.startswith("forge."):  # a push or a pull request (engine/forge.py)
        from ttal.engine import forge

        return forge.settle(app, item)
    return "flagged", f"no recovery known for {item.action}; check by hand"


def _redo(item: Intent) -> tuple[str, str]:
    return "skipped", f"{item.action} did not happen; the next `ttal go` redoes it after checking"


def _settle_merge(app: App, detail: dict[str, Any]) -> tuple[str, str]:
    """A merge is: merge-tree check, commit, then, holding the checkout's index lock, its
    files, the compare-and-swap of the base, and its index (adapters/git_checkout.py).
    Which of those happened decides what is left; a base that moved is never "skipped"."""
    repo, base = Path(str(detail["repo"])), str(detail["base"])
    with locks.held(locks.repo_lock(app.lock_dir, repo)):
        return _settle_merge_locked(repo, base, detail)


def _settle_merge_locked(repo: Path, base: str, detail: dict[str, Any]) -> tuple[str, str]:
    old, new = str(detail.get("old", "")), str(detail.get("new", ""))
    tip = git.rev(repo, f"refs/heads/{base}")
    moved = bool(new) and tip != old and (tip == new or git.is_ancestor(repo, new, tip))
    if lock := git_checkout.left_by(detail):
        if not new:  # killed between taking git's lock and making the merge commit: the
            git_checkout.release(lock)  # checkout was not touched (random-kill test)
            return _redo_merge()
        return _settle_locked(lock, old, new, moved, tip)
    if not new or tip == old:
        return _redo_merge()
    if not moved:
        return "flagged", f"{base} is at {tip[:10]}, neither before nor after the merge {new[:10]}"
    checkout = detail.get("checkout")
    if not checkout or tip != new:
        return "done", "the base branch holds the merge"
    return _settle_checkout(Path(str(checkout)), old, new)


def _redo_merge() -> tuple[str, str]:
    return "skipped", "the base branch never moved; the next `ttal go` merges after checking"


def _settle_locked(
    lock: git_checkout.IndexLock, old: str, new: str, moved: bool, tip: str
) -> tuple[str, str]:
    """ttal died holding git's index lock of the base's checkout: finish or undo the files
    and index it was writing, then let go of the lock; or keep it and ask a person."""
    where = lock.checkout
    if moved and git_checkout.is_at(lock, new, lock.index):
        git_checkout.release(lock)
        return "done", f"the base branch and its checkout at {where} hold the merge"
    if moved and tip == new and git_checkout.is_at(lock, new, lock.scratch):
        git_checkout.install(lock)
        return "done", f"finished updating the checkout at {where} to the merge"
    # The scratch index first: the real one cannot see files the merge added.
    undo = not moved and git_checkout.is_at(lock, new, lock.scratch)
    if undo and git_checkout.restore_files(lock, new, old):
        git_checkout.release(lock)
        return "skipped", f"the base never moved; put back the files at {where}"
    if not moved and not undo and git_checkout.is_at(lock, old, lock.index):
        git_checkout.release(lock)
        return _redo_merge()
    state = "the base holds the merge" if moved else "the base never moved"
    return "flagged", (
        f"{state}, but the checkout at {where} was left half updated; ttal still holds git's "
        f"lock {lock.path} so nothing commits from it: look at `git status` there, bring the "
        f"files to {(tip if moved else old)[:10]} (stash your own edits first), then delete "
        "the lock and `ttal journal resolve` this entry"
    )


def _settle_checkout(checkout: Path, old: str, new: str) -> tuple[str, str]:
    """The base moved but its checkout may not have followed (a crash, or an error after
    the compare-and-swap): bring it along under git's index lock, or ask a person."""
    try:
        lock = git_checkout.acquire(checkout)
    except TtalError as err:
        return "flagged", f"the base holds the merge {new[:10]}; {err.message}"
    try:
        if git_checkout.is_at(lock, new, lock.index):
            return "done", "the base branch and its checkout hold the merge"
        if git_checkout.catch_up(lock, old, new):
            return "done", f"updated the checkout at {checkout} to the merge"
    finally:
        git_checkout.release(lock)
    return "flagged", (
        f"the base holds the merge {new[:10]} but the index at {checkout} holds neither it "
        f"nor the base before it: look at `git status` there; once your own edits are "
        f"stashed, `git read-tree -m -u {old[:10]} HEAD` or `git reset --hard` brings it along"
    )
