"""The merge queue's rows (ttal.engine.merge_queue decides what to write): each approved
task waiting for its base, in approval order, and each check run with the tasks it tests,
the base it was built on, its result and the process group of its check."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ttal.adapters.store.db import Queries, marks

SCHEMA = """
CREATE TABLE IF NOT EXISTS merge_queue (
    task TEXT PRIMARY KEY, project TEXT NOT NULL, base TEXT NOT NULL, ts REAL NOT NULL,
    state TEXT NOT NULL, cap INTEGER NOT NULL DEFAULT 0, run INTEGER NOT NULL DEFAULT 0,
    branch TEXT NOT NULL, tip TEXT NOT NULL, tag TEXT NOT NULL, message TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '', grp TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS merge_queue_base ON merge_queue(project, state, ts);
CREATE TABLE IF NOT EXISTS check_runs (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, base TEXT NOT NULL,
    tasks TEXT NOT NULL, base_tip TEXT NOT NULL, result TEXT NOT NULL DEFAULT '',
    tested TEXT NOT NULL DEFAULT '[]', state TEXT NOT NULL, owner INTEGER NOT NULL,
    pgid INTEGER NOT NULL DEFAULT 0, started REAL NOT NULL, ended REAL NOT NULL DEFAULT 0,
    log TEXT NOT NULL DEFAULT '', worktree TEXT NOT NULL DEFAULT '',
    code INTEGER NOT NULL DEFAULT 0, last TEXT NOT NULL DEFAULT '',
    grp TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS merge_groups (
    grp TEXT PRIMARY KEY, state TEXT NOT NULL, runs TEXT NOT NULL, ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS check_runs_state ON check_runs(project, state);
CREATE TABLE IF NOT EXISTS base_checks (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, base_tip TEXT NOT NULL,
    command TEXT NOT NULL, state TEXT NOT NULL, code INTEGER NOT NULL DEFAULT 0,
    pgid INTEGER NOT NULL DEFAULT 0, started REAL NOT NULL, ended REAL NOT NULL DEFAULT 0,
    last TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS base_checks_key ON base_checks(project, base_tip, command);
"""

ENTRY_COLUMNS = "task, project, base, ts, state, cap, run, branch, tip, tag, message, note, grp"
RUN_COLUMNS = ("id, project, base, tasks, base_tip, result, tested, state, owner, pgid, "
               "started, ended, log, worktree, code, last, grp")  # fmt: skip


@dataclass(frozen=True)
class Entry:
    task: str
    project: str
    base: str
    ts: float
    state: str  # queued, testing, merged, returned
    cap: int  # 0, or the size of the failed batch's half it belongs to (core/merge_queue)
    run: int  # the check run testing it
    branch: str
    tip: str  # the approved commit it merges (returned: the tip that failed)
    tag: str  # the merge stage's tag, added once merged
    message: str  # its merge commit's message
    note: str
    grp: str  # a change across repos: the parent task whose children merge together


@dataclass(frozen=True)
class Run:
    id: int
    project: str
    base: str
    tasks: list[str]  # taken from the queue, in order
    base_tip: str  # the base it was built on
    result: str  # the commit the check ran on: base_tip plus each tested branch's merge
    tested: list[str]  # the tasks in that commit (a conflicting one is not)
    state: str  # building, running, passed, failed, timed out, then merged, split, returned,
    # stale (the base moved: rebuilt), aborted (its runner died), held (the base alone
    # fails the check too: its tasks queued again, the project held, engine/queue_holds.py)
    owner: int  # the pid of the ttal running it
    pgid: int  # the check's process group
    started: float
    ended: float
    log: str
    worktree: str
    code: int
    last: str  # the check's last output line(s)
    grp: str  # the group (engine/merge_groups.py) it checks a child of, or ""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class BaseCheck:
    """The project's check run once on its base alone (engine/queue_holds.py): is a red
    result the branch's, or the base's (or the check's own)?"""

    id: int
    project: str
    base_tip: str
    command: str
    state: str  # running, then passed, failed or timed out
    code: int
    pgid: int
    started: float
    ended: float
    last: str


BASE_COLUMNS = "id, project, base_tip, command, state, code, pgid, started, ended, last"


def _run(row: tuple[Any, ...]) -> Run:
    r = list(row)
    r[3], r[6] = json.loads(r[3]), json.loads(r[6])
    return Run(*r)


class MergeQueueQueries(Queries):
    _mq_ready = False

    def _mq(self) -> None:
        if not self._mq_ready:  # its own tables: made on first use, beside db.SCHEMA
            self.db.executescript(SCHEMA)
            self._mq_ready = True

    def merge_queue_used(self) -> bool:
        """Any task in a merge queue (or group) now, without making the tables: `ttal
        status` asks it where no project has a check."""
        if not self._mq_ready:
            made = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'merge_queue'"
            if self.db.execute(made).fetchone() is None:
                return False
        return bool(self.merge_entries(states=("queued", "testing", "returned")))

    def enqueue_merge(self, task: str, project: str, base: str, branch: str, tip: str,
                      tag: str, message: str, grp: str = "") -> None:  # fmt: skip
        """Queue a task at the end (a returned one comes back with its new tip)."""
        self._mq()
        self.db.execute(
            f"INSERT OR REPLACE INTO merge_queue({ENTRY_COLUMNS}) "
            "VALUES (?,?,?,?, 'queued', 0, 0, ?,?,?,?, '', ?)",
            (task, project, base, time.time(), branch, tip, tag, message, grp),
        )

    def merge_entry(self, task: str) -> Entry | None:
        self._mq()
        row = self.db.execute(
            f"SELECT {ENTRY_COLUMNS} FROM merge_queue WHERE task = ?", (task,)
        ).fetchone()
        return Entry(*row) if row else None

    def merge_entries(
        self, project: str = "", states: tuple[str, ...] = ("queued",)
    ) -> list[Entry]:
        """Entries in `states` (of `project`, when given), in queue order."""
        self._mq()
        sql = f"SELECT {ENTRY_COLUMNS} FROM merge_queue WHERE state IN ({marks(states)})"
        args: tuple[Any, ...] = states
        if project:
            sql, args = sql + " AND project = ?", (*args, project)
        return [Entry(*r) for r in self.db.execute(sql + " ORDER BY ts", args).fetchall()]

    def set_entries(self, tasks: list[str], **values: Any) -> None:
        """Set columns (state, cap, run, tip, note) of the entries of `tasks`."""
        self._mq()
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE merge_queue SET {sets} WHERE task IN ({marks(tasks)})",
                        (*values.values(), *tasks))  # fmt: skip

    def drop_entries(self, tasks: list[str]) -> None:
        self._mq()
        self.db.execute(f"DELETE FROM merge_queue WHERE task IN ({marks(tasks)})", tasks)

    def take_run(self, project: str, base: str, tasks: list[str], base_tip: str,
                 owner: int, grp: str = "") -> int:  # fmt: skip
        """Start a check run of `tasks` (still queued, or nothing happens: 0), all at once."""
        self._mq()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            queued = {e.task for e in self.merge_entries(project)}
            if not tasks or not set(tasks) <= queued:
                self.db.execute("ROLLBACK")
                return 0
            cur = self.db.execute(
                "INSERT INTO check_runs(project, base, tasks, base_tip, state, owner, started, "
                "grp) VALUES (?,?,?,?, 'building', ?, ?, ?)",
                (project, base, json.dumps(tasks), base_tip, owner, time.time(), grp),
            )
            run = int(cur.lastrowid or 0)
            self.set_entries(tasks, state="testing", run=run)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return run

    def update_run(self, run: int, **values: Any) -> None:
        self._mq()
        for key in ("tasks", "tested"):
            if key in values:
                values[key] = json.dumps(values[key])
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE check_runs SET {sets} WHERE id = ?", (*values.values(), run))

    def check_run(self, run: int) -> Run | None:
        self._mq()
        row = self.db.execute(f"SELECT {RUN_COLUMNS} FROM check_runs WHERE id = ?", (run,))
        found = row.fetchone()
        return _run(found) if found else None

    def check_runs(self, project: str = "", states: tuple[str, ...] = ()) -> list[Run]:
        """Check runs (of `project`; in `states`), oldest first."""
        self._mq()
        sql = f"SELECT {RUN_COLUMNS} FROM check_runs WHERE 1"
        args: tuple[Any, ...] = ()
        if project:
            sql, args = sql + " AND project = ?", (project,)
        if states:
            sql, args = sql + f" AND state IN ({marks(states)})", (*args, *states)
        return [_run(r) for r in self.db.execute(sql + " ORDER BY id", args).fetchall()]

    def requeue_run(self, run: int, caps: dict[str, int]) -> None:
        """Put the run's tasks still under test back in the queue, in one transaction, each
        with its cap (`caps`: a red batch's halves) or the one it had."""
        self._mq()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            rows = self.db.execute(
                "SELECT task, cap FROM merge_queue WHERE run = ? AND state = 'testing'", (run,)
            ).fetchall()
            for task, cap in rows:
                self.db.execute(
                    "UPDATE merge_queue SET state = 'queued', run = 0, cap = ? WHERE task = ?",
                    (caps.get(task, cap), task),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def merge_group(self, grp: str) -> tuple[str, list[int]] | None:
        """A group's landing record: its state (landing, merged) and its runs."""
        self._mq()
        row = self.db.execute("SELECT state, runs FROM merge_groups WHERE grp = ?", (grp,))
        found = row.fetchone()
        return (str(found[0]), list(json.loads(found[1]))) if found else None

    def set_merge_group(self, grp: str, state: str, runs: list[int]) -> None:
        self._mq()
        self.db.execute(
            "INSERT OR REPLACE INTO merge_groups(grp, state, runs, ts) VALUES (?,?,?,?)",
            (grp, state, json.dumps(runs), time.time()),
        )

    def start_base_check(self, project: str, base_tip: str, command: str) -> int:
        self._mq()
        cur = self.db.execute(
            "INSERT INTO base_checks(project, base_tip, command, state, started) "
            "VALUES (?,?,?, 'running', ?)",
            (project, base_tip, command, time.time()),
        )
        return int(cur.lastrowid or 0)

    def update_base_check(self, check: int, **values: Any) -> None:
        self._mq()
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE base_checks SET {sets} WHERE id = ?", (*values.values(), check))

    def drop_base_check(self, check: int) -> None:
        self._mq()
        self.db.execute("DELETE FROM base_checks WHERE id = ?", (check,))

    def base_checks(self, project: str, base_tip: str = "", command: str = "",
                    states: tuple[str, ...] = ()) -> list[BaseCheck]:  # fmt: skip
        """`project`'s base checks (of `base_tip`, of `command`, in `states`: each when
        given), newest first."""
        self._mq()
        sql, args = f"SELECT {BASE_COLUMNS} FROM base_checks WHERE project = ?", [project]
        for column, value in (("base_tip", base_tip), ("command", command)):
            if value:
                sql, args = sql + f" AND {column} = ?", [*args, value]
        if states:
            sql, args = sql + f" AND state IN ({marks(states)})", [*args, *states]
        rows = self.db.execute(sql + " ORDER BY id DESC", args).fetchall()
        return [BaseCheck(*r) for r in rows]
