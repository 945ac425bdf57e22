"""The action journal: every external mutation is written as an intent before it runs and
marked done after. After a crash, `recover` checks the world and completes, retries or
skips each unfinished intent, or flags it for a person. It never retries an irreversible
action blind: it only finishes what the world shows was half done.

Messages are journalled by the messages table itself (attempted_ts / delivered_ts, with a
look at the pane before anything is typed twice); see ttal.engine.mesh.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ttal.adapters.store.journal import Intent as Intent  # re-exported: the journal's entries
from ttal.engine.app import App

# action -> (tier, blast radius). Tiers: read-only, append-only, mutating; a blast radius is
# recoverable or irreversible (recover never retries an irreversible action blind).
ACTIONS = {
    "worktree.add": ("mutating", "recoverable"),
    "session.start": ("mutating", "recoverable"),
    "session.kill": ("mutating", "recoverable"),
    "merge": ("mutating", "irreversible"),  # others may build on a moved base at once
    "worktree.remove": ("mutating", "irreversible"),
    "branch.delete": ("mutating", "irreversible"),
    "task.dedupe": ("mutating", "recoverable"),  # the kept copy is in the intent's detail
    # A project that merges through a forge (engine/forge.py): a push to the worker's own
    # branch (with a lease when it rewrites it), a PR opened or closed, a PR merged.
    "forge.push": ("mutating", "recoverable"),
    "forge.open": ("append-only", "recoverable"),
    "forge.close": ("mutating", "recoverable"),
    "forge.merge": ("mutating", "irreversible"),
    # The merge queue's own steps; its runs table says what happened (engine/check_runs.py).
    "queue.take": ("append-only", "recoverable"),
    "check.run": ("mutating", "recoverable"),
    # A project's queue held (engine/queue_holds.py): flagged at once, for a person to see.
    "queue.hold": ("append-only", "recoverable"),
}


def begin(app: App, action: str, key: str, task: str = "", **detail: Any) -> int:
    tier, blast = ACTIONS[action]
    return app.state.add_intent(key, action, task, tier, blast, detail, os.getpid())


def update(app: App, intent_id: int, **detail: Any) -> None:
    app.state.add_intent_detail(intent_id, detail)


def finish(app: App, intent_id: int, state: str = "done", note: str = "") -> None:
    app.state.close_intent(intent_id, state, note)


@contextmanager
def intent(app: App, action: str, key: str, task: str = "", **detail: Any) -> Iterator[int]:
    """Record the intent, run the block, mark it done. An exception means "did not start"
    (skipped) only while the block has not recorded `begun=True`, its word that the world
    may now differ (`update(app, id, begun=True)` right before an irreversible step, and
    `begun=False` once it knows nothing changed after all). After that an exception is
    "unknown": `recover` checks the world, never trusting the exception. A base that moved
    before its checkout failed to follow was once closed as skipped, and the merged work
    reverted unseen (issue 15, item 2). A crash leaves the intent pending for `recover`."""
    intent_id = begin(app, action, key, task, **detail)
    try:
        yield intent_id
    except Exception as err:
        if app.state.intent_detail(intent_id).get("begun"):
            finish(app, intent_id, "unknown", f"may be half done: {err}")
        else:
            finish(app, intent_id, "skipped", f"not done: {err}")
        raise
    finish(app, intent_id)


def listing(app: App, states: tuple[str, ...] = ("pending", "unknown", "flagged")) -> list[Intent]:
    return app.state.intents(states)


def resolve(app: App, intent_id: int, note: str) -> Intent:
    from ttal.errors import NotFound, PreconditionFailed

    states = ("pending", "unknown", "flagged", "resolved")
    found = [i for i in listing(app, states) if i.id == intent_id]
    if not found:
        raise NotFound(f"no open intent #{intent_id}", hint="`ttal journal` lists them")
    if found[0].state == "pending" and _alive(found[0].pid):
        raise PreconditionFailed(f"intent #{intent_id} is still running (pid {found[0].pid})")
    finish(app, intent_id, "resolved", note or "resolved by a person")
    return found[0]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed ttal whose parent is gone can stay a zombie where nothing reaps orphans
    # (seen in containers): it answers kill(0) but will never finish its intent.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def stale(app: App, task: str = "") -> list[Intent]:
    """Intents to settle by looking at the world: pending ones whose process is gone (a
    crash left them half done) and unknown ones (an error after an irreversible step)."""
    found = [i for i in listing(app, ("pending", "unknown"))
             if i.state == "unknown" or not _alive(i.pid)]  # fmt: skip
    return [i for i in found if not task or i.task == task]
