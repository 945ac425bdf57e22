"""The database itself: where it lives, how it is opened, its schema and its migrations.

One SQLite file (WAL) in the state directory, shared by every ttal process at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sized
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, task TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL, actor TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_task ON events(task);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);  -- `ttal insights --since`
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    body TEXT NOT NULL, task TEXT NOT NULL DEFAULT '', key TEXT NOT NULL UNIQUE,
    digest TEXT NOT NULL DEFAULT '', file TEXT NOT NULL DEFAULT '',
    attempted_ts REAL, delivered_ts REAL, read_ts REAL,
    delivered_to TEXT NOT NULL DEFAULT '', acked_ts REAL, attempt TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages(recipient, delivered_ts);
CREATE INDEX IF NOT EXISTS messages_digest ON messages(digest, ts);
CREATE INDEX IF NOT EXISTS messages_unacked ON messages(recipient, delivered_ts)
    WHERE delivered_ts IS NOT NULL AND acked_ts IS NULL;
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
CREATE TABLE IF NOT EXISTS spawning (
    task TEXT PRIMARY KEY, session TEXT NOT NULL, project TEXT NOT NULL,
    runtime TEXT NOT NULL, pid INTEGER NOT NULL, started TEXT NOT NULL, ts REAL NOT NULL
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
CREATE TABLE IF NOT EXISTS tw_writes (
    id INTEGER PRIMARY KEY, task TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
    state TEXT NOT NULL, written_at REAL NOT NULL, note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tw_writes_task ON tw_writes(task, field);
CREATE INDEX IF NOT EXISTS tw_writes_state ON tw_writes(state, task);
-- usage and budgets (store/usage.py)
CREATE TABLE IF NOT EXISTS usage_sessions (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, session_id TEXT NOT NULL, kind TEXT NOT NULL,
    home TEXT NOT NULL, task TEXT NOT NULL DEFAULT '', project TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL DEFAULT '', role TEXT NOT NULL DEFAULT '', since REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_sessions_name ON usage_sessions(name, session_id);
CREATE TABLE IF NOT EXISTS usage_cursors (
    name TEXT NOT NULL, session_id TEXT NOT NULL, path TEXT NOT NULL DEFAULT '',
    inode INTEGER NOT NULL DEFAULT 0, offset INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '{}', done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, session_id, path)
);
CREATE TABLE IF NOT EXISTS usage (
    key TEXT PRIMARY KEY, at REAL NOT NULL, session TEXT NOT NULL, session_id TEXT NOT NULL,
    task TEXT NOT NULL DEFAULT '', project TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL DEFAULT '', role TEXT NOT NULL DEFAULT '', model TEXT NOT NULL,
    input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL,
    cache_write INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_task ON usage(task, at);
CREATE INDEX IF NOT EXISTS usage_at ON usage(at);
CREATE TABLE IF NOT EXISTS usage_totals (
    task TEXT NOT NULL, stage TEXT NOT NULL, project TEXT NOT NULL, day TEXT NOT NULL,
    model TEXT NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL,
    cache_read INTEGER NOT NULL, cache_write INTEGER NOT NULL,
    PRIMARY KEY (task, stage, project, day, model)
);
CREATE INDEX IF NOT EXISTS usage_totals_day ON usage_totals(day, project);
CREATE TABLE IF NOT EXISTS budget_stops (
    scope TEXT PRIMARY KEY, at REAL NOT NULL, detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS budget_grants (
    id INTEGER PRIMARY KEY, scope TEXT NOT NULL, amount REAL NOT NULL, unit TEXT NOT NULL,
    by TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS budget_grants_scope ON budget_grants(scope);
-- the tasks ttal finished, for `ttal status` (store/finished.py); an older database gains
-- the table here, empty: merges made before the upgrade are not listed
CREATE TABLE IF NOT EXISTS finished (
    uuid TEXT PRIMARY KEY, project TEXT NOT NULL, description TEXT NOT NULL,
    entry REAL NOT NULL, ended REAL NOT NULL, worker TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL DEFAULT '', health TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS finished_ended ON finished(ended);
"""

# Columns added after the first release: (table, column, declaration) for older databases.
ADDED_COLUMNS = (
    ("messages", "delivered_to", "TEXT NOT NULL DEFAULT ''"),
    ("messages", "acked_ts", "REAL"),
    ("messages", "attempt", "TEXT NOT NULL DEFAULT ''"),
)


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create, or bring up to date) the database at `path`. Autocommit: each
    statement is its own transaction unless a query opens one."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA busy_timeout=30000")
    # WAL with synchronous=NORMAL never corrupts; a power cut may lose the last commits.
    # FULL fsyncs every commit, and the journal makes several per `ttal go` (bench/).
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    _add_columns(db)
    return db


def _add_columns(db: sqlite3.Connection) -> None:
    """Bring a database made by an older ttal up to date (CREATE IF NOT EXISTS does not)."""
    have = {r[1] for r in db.execute("PRAGMA table_info(messages)")}
    for table, column, decl in ADDED_COLUMNS:
        if column in have:
            continue
        try:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        except sqlite3.OperationalError as err:
            if "duplicate column" not in str(err):  # another process added it first
                raise


def marks(values: Sized) -> str:
    """`?,?,?`: one placeholder per value, for `IN (...)`."""
    return ",".join("?" * len(values))


class Queries:
    """One part of the State facade: the queries on a few tables, over the one connection."""

    db: sqlite3.Connection
