"""What ttal remembers about pull requests: the feedback already sent to a worker (a
failed check per commit, a comment, a conflict), so a restart neither drops nor repeats it,
and the failed attempts at a push or a PR call, for their backoff (engine/forge.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ttal.adapters.store.db import Queries

FORGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS forge_sent (
    key TEXT PRIMARY KEY, task TEXT NOT NULL, ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS forge_attempts (
    task TEXT NOT NULL, action TEXT NOT NULL, failures INTEGER NOT NULL,
    next_at REAL NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (task, action)
);
"""


@dataclass(frozen=True)
class Attempts:
    failures: int = 0
    next_at: float = 0.0
    reason: str = ""


class ForgeQueries(Queries):
    _forge_ready = False

    def _forge(self) -> None:
        # Made on first use: only projects that merge through a forge need these tables.
        if not self._forge_ready:
            self.db.executescript(FORGE_SCHEMA)
            self._forge_ready = True

    def forge_sent(self, task: str) -> set[str]:
        """The keys of what was sent already about `task`'s pull request."""
        self._forge()
        rows = self.db.execute("SELECT key FROM forge_sent WHERE task = ?", (task,)).fetchall()
        return {r[0] for r in rows}

    def mark_forge_sent(self, key: str, task: str) -> None:
        self._forge()
        self.db.execute("INSERT OR IGNORE INTO forge_sent(key, task, ts) VALUES (?,?,?)",
                        (key, task, time.time()))  # fmt: skip

    def forge_pushed(self, task: str) -> set[str]:
        """The commits ttal pushed for `task` (its done forge.push intents): a lease may
        replace only one of these on the remote."""
        rows = self.db.execute(
            "SELECT detail FROM intents WHERE action = 'forge.push' AND task = ? "
            "AND state = 'done'",
            (task,),
        ).fetchall()
        return {str(json.loads(r[0]).get("commit", "")) for r in rows}

    def forge_attempts(self, task: str, action: str) -> Attempts:
        self._forge()
        row = self.db.execute(
            "SELECT failures, next_at, reason FROM forge_attempts WHERE task = ? AND action = ?",
            (task, action),
        ).fetchone()
        return Attempts(*row) if row else Attempts()

    def forge_failed(self, task: str, action: str, failures: int, next_at: float,
                     reason: str) -> None:  # fmt: skip
        self._forge()
        self.db.execute(
            "INSERT OR REPLACE INTO forge_attempts(task, action, failures, next_at, reason) "
            "VALUES (?,?,?,?,?)",
            (task, action, failures, next_at, reason),
        )

    def forge_succeeded(self, task: str, action: str) -> None:
        self._forge()
        self.db.execute("DELETE FROM forge_attempts WHERE task = ? AND action = ?",
                        (task, action))  # fmt: skip
