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

from ttal.core.watchdog import WatchRecord

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
    attempted_ts REAL, delivered_ts REAL, read_ts REAL,
    delivered_to TEXT NOT NULL DEFAULT '', acked_ts REAL
);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages(recipient, delivered_ts);
CREATE INDEX IF NOT EXISTS messages_digest ON messages(digest, ts);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, key TEXT NOT NULL, action TEXT NOT NULL,
    task TEXT NOT NULL DEFAULT '', tier TEXT NOT NULL, blast TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}', pid INTEGER NOT NULL, state TEXT NOT NULL,
    done_ts REAL, note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS intents_state ON intents(state, key);
CREATE TABLE IF NOT EXISTS spawns (
    ts REAL NOT NULL, task TEXT NOT NULL, project TEXT NOT NULL, runtime TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spawn_queue (
    task TEXT PRIMARY KEY, project TEXT NOT NULL, ts REAL NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS diary (
    id INTEGER PRIMARY KEY, agent TEXT NOT NULL, ts REAL NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS diary_agent ON diary(agent, id);
CREATE TABLE IF NOT EXISTS assign_queue (
    task TEXT NOT NULL, stage TEXT NOT NULL, role TEXT NOT NULL, ts REAL NOT NULL,
    PRIMARY KEY (task, stage)
);
CREATE TABLE IF NOT EXISTS acking (
    agent TEXT PRIMARY KEY, since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_status (
    agent TEXT PRIMARY KEY, state TEXT NOT NULL, since REAL NOT NULL,
    seen REAL NOT NULL, source TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS heartbeats (
    agent TEXT PRIMARY KEY, ts REAL NOT NULL, note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS watch (
    agent TEXT PRIMARY KEY, health TEXT NOT NULL DEFAULT 'ok',
    deaths INTEGER NOT NULL DEFAULT 0, restarts INTEGER NOT NULL DEFAULT 0,
    dead_at REAL NOT NULL DEFAULT 0, restarted_at REAL NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0, stuck_at REAL NOT NULL DEFAULT 0,
    dirty_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, detail);
"""

# Columns added after the first release: (table, column, declaration) for older databases.
ADDED_COLUMNS = (
    ("messages", "delivered_to", "TEXT NOT NULL DEFAULT ''"),
    ("messages", "acked_ts", "REAL"),
)

MESSAGE_COLUMNS = (
    "id, ts, sender, recipient, body, task, delivered_ts, file, attempted_ts, read_ts, "
    "delivered_to, acked_ts"
)

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
    delivered_to: str = ""  # the incarnation of the recipient's pane it was typed into
    acked: bool = False  # the recipient said it has read it

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "ts": self.ts, "from": self.sender, "to": self.recipient,
            "body": self.body, "task": self.task, "file": self.file,
            "delivered": self.delivered, "read": self.read, "acked": self.acked,
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
        # WAL with synchronous=NORMAL never corrupts; a power cut may lose the last commits.
        # FULL fsyncs every commit, and the journal makes several per `ttal go` (bench/).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        """Bring a database made by an older ttal up to date (CREATE IF NOT EXISTS does not)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(messages)")}
        for table, column, decl in ADDED_COLUMNS:
            if column in have:
                continue
            try:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            except sqlite3.OperationalError as err:
                if "duplicate column" not in str(err):  # another process added it first
                    raise

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

    def mark_delivered_many(self, ids: list[int], to: str = "") -> None:
        """`to` is the incarnation of the pane they were typed into (see Tmux.agent_pane)."""
        if ids:
            marks = ",".join("?" * len(ids))
            self.db.execute(
                "UPDATE messages SET delivered_ts = ?, delivered_to = ? "
                f"WHERE id IN ({marks}) AND delivered_ts IS NULL",
                (time.time(), to, *ids),
            )

    def requeue(self, ids: list[int]) -> None:
        """Back into the queue: typed into a pane whose program died before acknowledging."""
        if ids:
            marks = ",".join("?" * len(ids))
            self.db.execute(
                "UPDATE messages SET delivered_ts = NULL, attempted_ts = NULL, delivered_to = '' "
                f"WHERE id IN ({marks}) AND acked_ts IS NULL",
                ids,
            )

    def declare_acking(self, agent: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO acking(agent, since) VALUES (?, ?)",
                        (agent, time.time()))  # fmt: skip

    def acking_since(self, agent: str) -> float | None:
        """When `agent` first said it acknowledges what it reads; None if it never did."""
        row = self.db.execute("SELECT since FROM acking WHERE agent = ?", (agent,)).fetchone()
        return float(row[0]) if row else None

    def ack(self, agent: str, ids: list[int]) -> int:
        """Mark `agent`'s messages `ids` as read by it. Returns how many were new."""
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        cur = self.db.execute(
            f"UPDATE messages SET acked_ts = ? WHERE recipient = ? AND id IN ({marks}) "
            "AND acked_ts IS NULL",
            (time.time(), agent, *ids),
        )
        return cur.rowcount

    def unacked(self, agent: str, since: float) -> list[tuple[int, str]]:
        """(id, delivered_to) of `agent`'s messages delivered since `since`, not acknowledged."""
        rows = self.db.execute(
            "SELECT id, delivered_to FROM messages WHERE recipient = ? AND delivered_ts >= ? "
            "AND acked_ts IS NULL ORDER BY id",
            (agent, since),
        ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

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
        sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE 1=1"
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
        return [_message(r) for r in self.db.execute(sql, args).fetchall()]

    def message(self, message_id: int) -> Message | None:
        sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"
        row = self.db.execute(sql, (message_id,)).fetchone()
        return _message(row) if row else None

    def recipients_with_queue(self) -> list[str]:
        """Recipients with messages to type in: queued ones, and, for acknowledging agents,
        delivered ones not yet acknowledged (re-sent if the pane they went to has died)."""
        rows = self.db.execute(
            "SELECT m.recipient FROM messages m LEFT JOIN acking a ON a.agent = m.recipient "
            "WHERE m.delivered_ts IS NULL OR (m.acked_ts IS NULL AND m.delivered_ts >= a.since) "
            "GROUP BY m.recipient ORDER BY MIN(m.id)"
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

    def enqueue_assignment(self, task: str, stage: str, role: str) -> int:
        """Queue a role stage (once); returns its 1-based position among its role's queue."""
        self.db.execute(
            "INSERT OR IGNORE INTO assign_queue(task, stage, role, ts) VALUES (?,?,?,?)",
            (task, stage, role, time.time()),
        )
        row = self.db.execute(
            "SELECT COUNT(*) FROM assign_queue WHERE role = ? AND ts <= "
            "(SELECT ts FROM assign_queue WHERE task = ? AND stage = ?)",
            (role, task, stage),
        ).fetchone()
        return int(row[0])

    def dequeue_assignment(self, task: str, stage: str) -> None:
        self.db.execute("DELETE FROM assign_queue WHERE task = ? AND stage = ?", (task, stage))

    def assignments(self) -> list[tuple[str, str, str]]:
        """Queued (task, stage, role), oldest first."""
        rows = self.db.execute("SELECT task, stage, role FROM assign_queue ORDER BY ts").fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def clear_status(self, agent: str) -> None:
        self.db.execute("DELETE FROM agent_status WHERE agent = ?", (agent,))

    def heartbeat(self, agent: str, note: str = "") -> None:
        """An agent says it is still working. Also refreshes its runtime status's `seen`, so
        `ttal agents` does not call it stuck either."""
        now = time.time()
        self.db.execute(
            "INSERT INTO heartbeats(agent, ts, note) VALUES (?,?,?) ON CONFLICT(agent) "
            "DO UPDATE SET ts = excluded.ts, note = excluded.note",
            (agent, now, note),
        )
        self.db.execute("UPDATE agent_status SET seen = ? WHERE agent = ?", (now, agent))

    def heartbeats(self) -> dict[str, tuple[float, str]]:
        """agent -> (time, note) of its last heartbeat."""
        rows = self.db.execute("SELECT agent, ts, note FROM heartbeats").fetchall()
        return {r[0]: (float(r[1]), str(r[2])) for r in rows}

    def started_by(self, agent: str) -> str | None:
        """Who started persistent agent `agent` with the `ttal up` since its last `ttal down`;
        None when it is down or was never up. Later `up`s (a restart) keep the first one."""
        row = self.db.execute(
            "SELECT actor FROM events WHERE kind = 'up' AND detail = ? AND id > "
            "(SELECT COALESCE(MAX(id), 0) FROM events WHERE kind = 'down' AND detail = ?) "
            "ORDER BY id LIMIT 1",
            (agent, agent),
        ).fetchone()
        return str(row[0]) if row else None

    def watch_record(self, agent: str) -> WatchRecord:
        cols = ", ".join(WATCH_COLUMNS)
        row = self.db.execute(f"SELECT {cols} FROM watch WHERE agent = ?", (agent,)).fetchone()
        return WatchRecord(*row) if row else WatchRecord(agent)

    def save_watch(self, record: WatchRecord) -> None:
        values = [getattr(record, c) for c in WATCH_COLUMNS]
        marks = ",".join("?" * len(values))
        self.db.execute(f"INSERT OR REPLACE INTO watch({', '.join(WATCH_COLUMNS)}) "
                        f"VALUES ({marks})", values)  # fmt: skip


def _message(r: tuple[Any, ...]) -> Message:
    return Message(
        id=r[0], ts=r[1], sender=r[2], recipient=r[3], body=r[4], task=r[5],
        delivered=r[6] is not None, file=r[7], attempted=r[8] is not None,
        read=r[9] is not None, delivered_to=r[10], acked=r[11] is not None,
    )  # fmt: skip


WATCH_COLUMNS = ("agent", "health", "deaths", "restarts", "dead_at", "restarted_at", "next_at",
                 "stuck_at", "dirty_at")  # fmt: skip
