"""Token usage and budgets (docs/cost.md).

- usage_sessions: every session ttal started (and every later stage a worker was briefed
  for), with its runtime session id and where the runtime keeps its files: usage read
  from a session's file goes to the task, project and stage of the row in force then;
- usage_cursors: per session file (Claude Code: its transcript and its subagents'), how far
  it was read (byte offset and inode), and the reader's state (Codex: the model in use, the
  last running total); `done` once the session ended and every file was read to its end;
- usage: one row per model reply, keyed so that a reply read twice counts once;
- budget_stops: the scopes stopped at 100 % of their budget, until a person approves more;
- budget_grants: what people approved beyond `limits.budget`, per scope.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ttal.adapters.store.db import Queries

if TYPE_CHECKING:
    from ttal.core.costs import Usage


@dataclass(frozen=True)
class UsageSession:
    name: str
    session_id: str
    kind: str  # the runtime's kind: claude, codex, scripted
    home: str  # Claude's config dir, Codex's home, ttal's run dir (scripted)
    task: str
    project: str
    stage: str
    role: str
    since: float


@dataclass(frozen=True)
class Cursor:
    path: str = ""
    inode: int = 0
    offset: int = 0
    state: str = "{}"
    done: bool = False


SESSION_COLUMNS = "name, session_id, kind, home, task, project, stage, role, since"
COUNTS = "SUM(input), SUM(output), SUM(cache_read), SUM(cache_write)"


class UsageQueries(Queries):
    def register_session(self, s: UsageSession) -> None:
        self.db.execute(f"INSERT INTO usage_sessions({SESSION_COLUMNS}) VALUES "
                        "(?,?,?,?,?,?,?,?,?)",
                        (s.name, s.session_id, s.kind, s.home, s.task, s.project, s.stage,
                         s.role, s.since))  # fmt: skip
        # A resumed session writes to its old file again: read it on.
        self.db.execute("UPDATE usage_cursors SET done = 0 WHERE name = ? AND session_id = ?",
                        (s.name, s.session_id))  # fmt: skip

    def latest_session(self, name: str) -> UsageSession | None:
        row = self.db.execute(f"SELECT {SESSION_COLUMNS} FROM usage_sessions WHERE name = ? "
                              "ORDER BY id DESC LIMIT 1", (name,)).fetchone()  # fmt: skip
        return UsageSession(*row) if row else None

    def rename_session_id(self, name: str, old: str, new: str) -> None:
        """Codex picks its own id after the launch (its SessionStart hook records it)."""
        self.db.execute("UPDATE usage_sessions SET session_id = ? WHERE name = ? AND "
                        "session_id = ?", (new, name, old))  # fmt: skip

    def sessions_to_read(self) -> list[UsageSession]:
        """Each session file not yet read to its end after its session ended: the latest
        row of each (name, session id)."""
        rows = self.db.execute(
            f"SELECT {SESSION_COLUMNS} FROM usage_sessions s WHERE id IN (SELECT MAX(id) FROM "
            "usage_sessions GROUP BY name, session_id) AND NOT EXISTS (SELECT 1 FROM "
            "usage_cursors c WHERE c.name = s.name AND c.session_id = s.session_id AND c.done)"
        ).fetchall()
        return [UsageSession(*row) for row in rows]

    def session_history(self, name: str, session_id: str) -> list[UsageSession]:
        rows = self.db.execute(f"SELECT {SESSION_COLUMNS} FROM usage_sessions WHERE name = ? "
                               "AND session_id = ? ORDER BY id",
                               (name, session_id)).fetchall()  # fmt: skip
        return [UsageSession(*row) for row in rows]

    def cursor(self, name: str, session_id: str, path: str) -> Cursor:
        row = self.db.execute("SELECT path, inode, offset, state, done FROM usage_cursors "
                              "WHERE name = ? AND session_id = ? AND path = ?",
                              (name, session_id, path)).fetchone()  # fmt: skip
        return Cursor(row[0], row[1], row[2], row[3], bool(row[4])) if row else Cursor(path)

    def first_path(self, name: str, session_id: str) -> str:
        """The first file of the session read so far (its conversation), or ""."""
        row = self.db.execute("SELECT path FROM usage_cursors WHERE name = ? AND session_id = ? "
                              "AND path != '' ORDER BY rowid LIMIT 1",
                              (name, session_id)).fetchone()  # fmt: skip
        return str(row[0]) if row else ""

    def session_done(self, name: str, session_id: str) -> None:
        """Ended, and each of its files read to its end (or it never wrote one)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR IGNORE INTO usage_cursors(name, session_id, path) "
                            "VALUES (?, ?, '')", (name, session_id))  # fmt: skip
            self.db.execute("UPDATE usage_cursors SET done = 1 WHERE name = ? AND "
                            "session_id = ?", (name, session_id))  # fmt: skip

    def record_usage(self, name: str, session_id: str, cursor: Cursor,
                     rows: list[tuple[Usage, UsageSession]]) -> None:  # fmt: skip
        """The replies read and the cursor after them, in one transaction: a crash between
        the two never counts a reply twice or skips one."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for usage, s in rows:
                self._add_reply(name, session_id, usage, s)
            self.db.execute(
                # An update in place keeps the row's rowid: the first is the conversation.
                "INSERT INTO usage_cursors(name, session_id, path, inode, offset, state, done) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(name, session_id, path) DO UPDATE SET "
                "inode = excluded.inode, offset = excluded.offset, state = excluded.state, "
                "done = excluded.done",
                (name, session_id, cursor.path, cursor.inode, cursor.offset, cursor.state,
                 int(cursor.done)))  # fmt: skip

    def _add_reply(self, name: str, session_id: str, usage: Usage, s: UsageSession) -> None:
        """One reply; seen before (its key), the larger count of each kind wins. The running
        totals per task, stage, project, day and model take the difference: reads stay
        cheap however many replies there are (docs/cost.md)."""
        counts = (usage.input, usage.output, usage.cache_read, usage.cache_write)
        added = self.db.execute(
            "INSERT OR IGNORE INTO usage(key, at, session, session_id, task, project, stage, "
            "role, model, input, output, cache_read, cache_write) VALUES (?,?,?,?,?,?,?,?,?,?,"
            "?,?,?)", (usage.key, usage.at, name, session_id, s.task, s.project, s.stage,
                       s.role, usage.model, *counts)).rowcount  # fmt: skip
        if added:
            where, delta = (s.task, s.stage, s.project, usage.at, usage.model), counts
        else:  # seen before: the first reading's task, stage and day keep it
            old = self.db.execute("SELECT input, output, cache_read, cache_write, task, stage, "
                                  "project, at, model FROM usage WHERE key = ?",
                                  (usage.key,)).fetchone()  # fmt: skip
            merged = tuple(max(a, b) for a, b in zip(old[:4], counts, strict=True))
            delta = tuple(m - a for m, a in zip(merged, old[:4], strict=True))
            if not any(delta):
                return
            self.db.execute("UPDATE usage SET input = ?, output = ?, cache_read = ?, "
                            "cache_write = ? WHERE key = ?", (*merged, usage.key))  # fmt: skip
            where = tuple(old[4:])
        task, stage, project, at, model = where
        day = time.strftime("%Y-%m-%d", time.localtime(at))
        self.db.execute(
            "INSERT INTO usage_totals(task, stage, project, day, model, input, output, "
            "cache_read, cache_write) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(task, stage, "
            "project, day, model) DO UPDATE SET input = input + excluded.input, output = "
            "output + excluded.output, cache_read = cache_read + excluded.cache_read, "
            "cache_write = cache_write + excluded.cache_write",
            (task, stage, project, day, model, *delta))  # fmt: skip

    # ---- reading it back ------------------------------------------------------------------

    def usage_counts(self, where: str = "", args: tuple[Any, ...] = (),
                     by: str = "task") -> list[tuple[Any, ...]]:  # fmt: skip
        """(<by column>, model, input, output, cache_read, cache_write) summed from the
        running totals; `where` is a condition on their columns (task, stage, project, day,
        model: ttal's own text, values in `args`)."""
        sql = f"SELECT {by}, model, {COUNTS} FROM usage_totals"
        if where:
            sql += f" WHERE {where}"
        return self.db.execute(sql + f" GROUP BY {by}, model", args).fetchall()

    def usage_rows(self, task: str) -> list[tuple[Any, ...]]:
        """A task's replies, oldest first: (at, session, stage, model, input, output,
        cache_read, cache_write)."""
        return self.db.execute(
            "SELECT at, session, stage, model, input, output, cache_read, cache_write FROM "
            "usage WHERE task = ? ORDER BY at", (task,)).fetchall()  # fmt: skip

    # ---- budgets --------------------------------------------------------------------------

    def stop_scope(self, scope: str, detail: dict[str, Any]) -> bool:
        """Mark `scope` stopped; False when it already was."""
        cur = self.db.execute("INSERT OR IGNORE INTO budget_stops(scope, at, detail) VALUES "
                              "(?,?,?)", (scope, time.time(), json.dumps(detail)))  # fmt: skip
        return cur.rowcount == 1

    def stop_detail(self, scope: str, detail: dict[str, Any]) -> None:
        self.db.execute("UPDATE budget_stops SET detail = ? WHERE scope = ?",
                        (json.dumps(detail), scope))  # fmt: skip

    def stops(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT scope, detail FROM budget_stops").fetchall()
        return {scope: json.loads(detail or "{}") for scope, detail in rows}

    def grant(self, scope: str, amount: float, unit: str, by: str) -> None:
        """Approve `amount` more for `scope`, and lift its stop, in one transaction."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO budget_grants(scope, amount, unit, by, at) VALUES "
                            "(?,?,?,?,?)", (scope, amount, unit, by, time.time()))  # fmt: skip
            self.db.execute("DELETE FROM budget_stops WHERE scope = ?", (scope,))

    def granted(self, scope: str, unit: str) -> float:
        row = self.db.execute("SELECT COALESCE(SUM(amount), 0) FROM budget_grants WHERE "
                              "scope = ? AND unit = ?", (scope, unit)).fetchone()  # fmt: skip
        return float(row[0])
