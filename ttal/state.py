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
    digest TEXT NOT NULL DEFAULT '', file TEXT NOT NULL DEFAULT '',
    attempted_ts REAL, delivered_ts REAL, read_ts REAL
);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages(recipient, delivered_ts);
CREATE INDEX IF NOT EXISTS messages_digest ON messages(digest, ts);
CREATE TABLE IF NOT EXISTS agent_status (
    agent TEXT PRIMARY KEY, state TEXT NOT NULL, since REAL NOT NULL,
    seen REAL NOT NULL, source TEXT NOT NULL DEFAULT ''
);
"""

# Two identical messages (same sender, recipient, body) within this window are one resend.
RESEND_WINDOW = 300.0


@dataclass(frozen=True)
class Message:
    id: int
    ts: float
    sender: str
    recipient: str
    body: str
    task: str
    delivered: bool
    file: str = ""
    attempted: bool = False
    read: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "ts": self.ts, "from": self.sender, "to": self.recipient,
            "body": self.body, "task": self.task, "file": self.file,
            "delivered": self.delivered, "read": self.read,
        }  # fmt: skip


@dataclass(frozen=True)
class AgentStatus:
    agent: str
    state: str  # idle or busy, as the runtime last reported it
    since: float  # when it entered that state
    seen: float  # the last report
    source: str


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

    def add_message(
        self,
        sender: str,
        recipient: str,
        body: str,
        key: str,
        task: str = "",
        digest: str = "",
        file: str = "",
    ) -> int:
        """Store a message before any delivery is tried. Returns 0 for a resend: `key` seen
        before, or the same `digest` within RESEND_WINDOW."""
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")  # the check and the insert are one step
        try:
            if (
                digest
                and self.db.execute(
                    "SELECT 1 FROM messages WHERE digest = ? AND ts > ? LIMIT 1",
                    (digest, now - RESEND_WINDOW),
                ).fetchone()
            ):
                return 0
            cur = self.db.execute(
                "INSERT OR IGNORE INTO messages(ts, sender, recipient, body, task, key, digest, "
                "file) VALUES (?,?,?,?,?,?,?,?)",
                (now, sender, recipient, body, task, key, digest, file),
            )
            return int(cur.lastrowid or 0) if cur.rowcount else 0
        finally:
            self.db.execute("COMMIT")

    def mark_attempted(self, ids: list[int]) -> None:
        self._stamp("attempted_ts", ids)

    def mark_delivered(self, message_id: int) -> None:
        self._stamp("delivered_ts", [message_id])

    def mark_delivered_many(self, ids: list[int]) -> None:
        self._stamp("delivered_ts", ids)

    def mark_read(self, ids: list[int]) -> None:
        self._stamp("read_ts", ids)

    def _stamp(self, column: str, ids: list[int]) -> None:
        if ids:
            marks = ",".join("?" * len(ids))
            self.db.execute(
                f"UPDATE messages SET {column} = ? WHERE id IN ({marks}) AND {column} IS NULL",
                (time.time(), *ids),
            )

    def messages(
        self, recipient: str = "", undelivered: bool = False, limit: int = 0
    ) -> list[Message]:
        sql = (
            "SELECT id, ts, sender, recipient, body, task, delivered_ts, file, attempted_ts, "
            "read_ts FROM messages WHERE 1=1"
        )
        args: list[Any] = []
        if recipient:
            sql += " AND recipient = ?"
            args.append(recipient)
        if undelivered:
            sql += " AND delivered_ts IS NULL"
        sql += " ORDER BY id"
        if limit:
            sql = f"SELECT * FROM ({sql.replace(' ORDER BY id', ' ORDER BY id DESC')} LIMIT ?)"
            sql += " ORDER BY id"
            args.append(limit)
        rows = self.db.execute(sql, args).fetchall()
        return [
            Message(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6] is not None,
                r[7],
                r[8] is not None,
                r[9] is not None,
            )
            for r in rows
        ]

    def recipients_with_queue(self) -> list[str]:
        rows = self.db.execute(
            "SELECT recipient FROM messages WHERE delivered_ts IS NULL GROUP BY recipient "
            "ORDER BY MIN(id)"
        ).fetchall()
        return [r[0] for r in rows]

    def unread_counts(self) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT recipient, COUNT(*) FROM messages WHERE read_ts IS NULL AND "
            "(delivered_ts IS NULL OR recipient = 'human') GROUP BY recipient"
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def set_status(self, agent: str, state: str, source: str) -> None:
        """Record a runtime's idle/busy signal; `since` moves only when the state changes."""
        now = time.time()
        self.db.execute(
            "INSERT INTO agent_status(agent, state, since, seen, source) VALUES (?,?,?,?,?) "
            "ON CONFLICT(agent) DO UPDATE SET seen = excluded.seen, source = excluded.source, "
            "since = CASE WHEN state = excluded.state THEN since ELSE excluded.since END, "
            "state = excluded.state",
            (agent, state, now, now, source),
        )

    def status(self, agent: str) -> AgentStatus | None:
        row = self.db.execute(
            "SELECT agent, state, since, seen, source FROM agent_status WHERE agent = ?", (agent,)
        ).fetchone()
        return AgentStatus(*row) if row else None

    def clear_status(self, agent: str) -> None:
        self.db.execute("DELETE FROM agent_status WHERE agent = ?", (agent,))
