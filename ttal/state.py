"""ttal's own memory: one SQLite database (WAL) in the state directory.

It holds what Taskwarrior, git and tmux cannot tell us: the messages sent (and whether
they were delivered), and an event log. Task status is never stored here; it is derived.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, task TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL, actor TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_task ON events(task);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    body TEXT NOT NULL, task TEXT NOT NULL DEFAULT '', key TEXT NOT NULL UNIQUE,
    delivered_ts REAL, read_ts REAL
);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages(recipient, delivered_ts);
"""


@dataclass(frozen=True)
class Message:
    id: int
    ts: float
    sender: str
    recipient: str
    body: str
    task: str
    delivered: bool


class State:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "ttal.db"
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def event(self, kind: str, task: str = "", actor: str = "", detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO events(ts, task, kind, actor, detail) VALUES (?,?,?,?,?)",
            (time.time(), task, kind, actor, detail),
        )

    def events(self, task: str = "", limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT ts, task, kind, actor, detail FROM events"
        args: tuple[Any, ...] = ()
        if task:
            sql, args = sql + " WHERE task = ?", (task,)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        keys = ("ts", "task", "kind", "actor", "detail")
        return [dict(zip(keys, row, strict=True)) for row in reversed(rows)]

    def add_message(self, sender: str, recipient: str, body: str, key: str, task: str = "") -> int:
        """Store a message before any delivery is tried. Returns 0 if `key` was seen before."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO messages(ts, sender, recipient, body, task, key) "
            "VALUES (?,?,?,?,?,?)",
            (time.time(), sender, recipient, body, task, key),
        )
        return int(cur.lastrowid or 0) if cur.rowcount else 0

    def mark_delivered(self, message_id: int) -> None:
        self.db.execute(
            "UPDATE messages SET delivered_ts = ? WHERE id = ? AND delivered_ts IS NULL",
            (time.time(), message_id),
        )

    def messages(self, recipient: str = "", undelivered: bool = False) -> list[Message]:
        sql = "SELECT id, ts, sender, recipient, body, task, delivered_ts FROM messages WHERE 1=1"
        args: list[Any] = []
        if recipient:
            sql += " AND recipient = ?"
            args.append(recipient)
        if undelivered:
            sql += " AND delivered_ts IS NULL"
        rows = self.db.execute(sql + " ORDER BY id", args).fetchall()
        return [Message(r[0], r[1], r[2], r[3], r[4], r[5], r[6] is not None) for r in rows]
