"""The action journal: every external mutation is written as an intent before it runs and
marked done after. After a crash, `recover` checks the world and completes, retries or
skips each unfinished intent, or flags it for a person. It never retries an irreversible
action blind: it only finishes what the world shows was half done.

Messages are journalled by the messages table itself (attempted_ts / delivered_ts, with a
look at the pane before anything is typed twice); see ttal.engine.mesh.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
}


@dataclass(frozen=True)
class Intent:
    id: int
    ts: float
    key: str
    action: str
    task: str
    tier: str
    blast: str
    detail: dict[str, Any]
    pid: int
    state: str  # pending, done, skipped, flagged, resolved
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def begin(app: App, action: str, key: str, task: str = "", **detail: Any) -> int:
    tier, blast = ACTIONS[action]
    cur = app.state.db.execute(
        "INSERT INTO intents(ts, key, action, task, tier, blast, detail, pid, state) "
        "VALUES (?,?,?,?,?,?,?,?, 'pending')",
        (time.time(), key, action, task, tier, blast, json.dumps(detail), os.getpid()),
    )
    return int(cur.lastrowid or 0)


def update(app: App, intent_id: int, **detail: Any) -> None:
    row = app.state.db.execute("SELECT detail FROM intents WHERE id = ?", (intent_id,)).fetchone()
    merged = {**json.loads(row[0]), **detail} if row else detail
    app.state.db.execute(
        "UPDATE intents SET detail = ? WHERE id = ?", (json.dumps(merged), intent_id)
    )


def finish(app: App, intent_id: int, state: str = "done", note: str = "") -> None:
    app.state.db.execute(
        "UPDATE intents SET state = ?, done_ts = ?, note = ? WHERE id = ?",
        (state, time.time(), note, intent_id),
    )


@contextmanager
def intent(app: App, action: str, key: str, task: str = "", **detail: Any) -> Iterator[int]:
    """Record the intent, run the block, mark it done. An exception that ttal raised on
    purpose (a refusal) means nothing happened: the intent is closed as skipped. A crash
    leaves it pending for `recover`."""
    intent_id = begin(app, action, key, task, **detail)
    try:
        yield intent_id
    except Exception as err:
        finish(app, intent_id, "skipped", f"not done: {err}")
        raise
    finish(app, intent_id)


def listing(app: App, states: tuple[str, ...] = ("pending", "flagged")) -> list[Intent]:
    marks = ",".join("?" * len(states))
    rows = app.state.db.execute(
        "SELECT id, ts, key, action, task, tier, blast, detail, pid, state, note FROM intents "
        f"WHERE state IN ({marks}) ORDER BY id",
        states,
    ).fetchall()
    return [
        Intent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9], r[10])
        for r in rows
    ]


def resolve(app: App, intent_id: int, note: str) -> Intent:
    from ttal.errors import NotFound, PreconditionFailed

    found = [i for i in listing(app, ("pending", "flagged", "resolved")) if i.id == intent_id]
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
    """Pending intents whose process is gone: a crash left them half done."""
    found = [i for i in listing(app, ("pending",)) if not _alive(i.pid)]
    return [i for i in found if not task or i.task == task]
