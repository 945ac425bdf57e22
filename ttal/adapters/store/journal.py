"""The action journal's rows: an intent is written before an external mutation runs and
closed after (ttal.engine.journal decides what to write; ttal.engine.recovery reads them)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ttal.adapters.store.db import Queries, marks

INTENT_COLUMNS = "id, ts, key, action, task, tier, blast, detail, pid, state, note"


@dataclass(frozen=True)
class Intent:
    id: int
    ts: float
    key: str
    action: str
    task: str
    tier: str
    blast: str
    detail: dict[str, Any]  # the action's own facts (paths, branches, shas), as JSON
    pid: int
    state: str  # pending, done, skipped (did not happen), unknown, flagged, resolved
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class JournalQueries(Queries):
    def add_intent(self, key: str, action: str, task: str, tier: str, blast: str,
                   detail: dict[str, Any], pid: int) -> int:  # fmt: skip
        """A pending intent; returns its id."""
        cur = self.db.execute(
            "INSERT INTO intents(ts, key, action, task, tier, blast, detail, pid, state) "
            "VALUES (?,?,?,?,?,?,?,?, 'pending')",
            (time.time(), key, action, task, tier, blast, json.dumps(detail), pid),
        )
        return int(cur.lastrowid or 0)

    def add_intent_detail(self, intent_id: int, detail: dict[str, Any]) -> None:
        """Merge `detail` into the intent's facts (a later key wins)."""
        row = self.db.execute("SELECT detail FROM intents WHERE id = ?", (intent_id,)).fetchone()
        merged = {**json.loads(row[0]), **detail} if row else detail
        self.db.execute(
            "UPDATE intents SET detail = ? WHERE id = ?", (json.dumps(merged), intent_id)
        )

    def intent_detail(self, intent_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT detail FROM intents WHERE id = ?", (intent_id,)).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def close_intent(self, intent_id: int, state: str, note: str) -> None:
        self.db.execute(
            "UPDATE intents SET state = ?, done_ts = ?, note = ? WHERE id = ?",
            (state, time.time(), note, intent_id),
        )

    def intents(self, states: tuple[str, ...]) -> list[Intent]:
        """The intents in any of `states`, oldest first."""
        rows = self.db.execute(
            f"SELECT {INTENT_COLUMNS} FROM intents WHERE state IN ({marks(states)}) ORDER BY id",
            states,
        ).fetchall()
        return [
            Intent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9], r[10])
            for r in rows
        ]

    def made_worktree(self, task: str, path: str) -> bool:
        """ttal itself added a worktree at `path` for `task` (its worktree.add intent is
        done): a worktree_root changed since then still leaves the task its worktree."""
        row = self.db.execute(
            "SELECT 1 FROM intents WHERE key = ? AND action = 'worktree.add' AND task = ? "
            "AND state = 'done' LIMIT 1",
            (f"wt:{path}", task),
        ).fetchone()
        return row is not None
