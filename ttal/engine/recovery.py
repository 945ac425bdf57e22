"""Settle the intents a crash left pending: look at the world, then complete, skip (the next
`ttal go` redoes it after its own checks) or flag for a person. Nothing irreversible is
ever retried blind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ttal.adapters import git
from ttal.engine import journal, reconcile
from ttal.engine.app import App
from ttal.engine.journal import Intent


def recover(
    app: App, task: str = "", standing: bool = False, sweep: bool = True
) -> list[dict[str, Any]]:
    """Settle `task`'s stale intents (every task's: then also, with `sweep`, write again
    what Taskwarrior lost of ttal's writes, engine/reconcile.py). `standing`: list the
    writes flagged as changed by someone else too."""
    settled = []
    for item in journal.stale(app, task):
        state, note = _settle(app, item)
        journal.finish(app, item.id, state, note)
        app.state.event(
            f"recovered-{state}", item.task, "ttal", f"#{item.id} {item.action}: {note}"
        )
        settled.append({**item.as_dict(), "state": state, "note": note})
    if sweep and not task:
        settled += reconcile.sweep(app)
    if standing:
        settled += reconcile.standing_conflicts(app)
    return settled


def _settle(app: App, item: Intent) -> tuple[str, str]:
    detail = item.detail
    if item.action == "merge":
        return _settle_merge(detail)
    if item.action in ("worktree.add", "worktree.remove"):
        exists = Path(str(detail.get("path"))).exists()
        done = exists if item.action == "worktree.add" else not exists
        return ("done", "the worktree is as intended") if done else _redo(item)
    if item.action in ("session.start", "session.kill"):
        running = app.tmux.has(str(detail.get("name")))
        done = running if item.action == "session.start" else not running
        return ("done", "the session is as intended") if done else _redo(item)
    if item.action == "task.dedupe":
        return reconcile.settle_dedupe(app, item.task, dict(detail.get("row") or {}))
    if item.action == "branch.delete":
        repo, branch = Path(str(detail.get("repo"))), str(detail.get("branch"))
        if not git.rev(repo, f"refs/heads/{branch}"):
            return "done", "the branch is gone"
        return _redo(item)
    return "flagged", f"no recovery known for {item.action}; check by hand"


def _redo(item: Intent) -> tuple[str, str]:
    return "skipped", f"{item.action} did not happen; the next `ttal go` redoes it after checking"


def _settle_merge(detail: dict[str, Any]) -> tuple[str, str]:
    """A merge is: merge-tree check, commit, compare-and-swap of the base, then updating the
    base's checkout. Which of those happened decides what is left."""
    repo, base = Path(str(detail["repo"])), str(detail["base"])
    old, new = str(detail.get("old", "")), str(detail.get("new", ""))
    tip = git.rev(repo, f"refs/heads/{base}")
    if not new or tip == old:
        return _redo_merge()
    if tip != new and not git.is_ancestor(repo, new, tip):
        return "flagged", f"{base} is at {tip[:10]}, neither before nor after the merge {new[:10]}"
    checkout = detail.get("checkout")
    if not checkout or tip != new:
        return "done", "the base branch holds the merge"
    return _settle_checkout(Path(str(checkout)), old, new)


def _redo_merge() -> tuple[str, str]:
    return "skipped", "the base branch never moved; the next `ttal go` merges after checking"


def _settle_checkout(checkout: Path, old: str, new: str) -> tuple[str, str]:
    if git.index_matches(checkout, new):
        return "done", "the base branch and its checkout hold the merge"
    if git.index_matches(checkout, old):
        # The crash fell between moving the base and updating its checkout: finish that.
        result = git.move_checkout(checkout, old, new)
        if result.ok:
            return "done", f"updated the checkout at {checkout} to the merge"
        return "flagged", f"could not update the checkout at {checkout}: {result.err.strip()}"
    return "flagged", f"the checkout at {checkout} changed since the merge; update it by hand"
