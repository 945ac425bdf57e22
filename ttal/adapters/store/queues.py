"""Work that waits its turn: role stages waiting for a free agent of their role
(ttal.engine.routing), and spawns waiting for a limit (ttal.engine.spawn_queue), with the
record of past spawns that spawn spacing is measured from."""

from __future__ import annotations

import time
from typing import NamedTuple

from ttal.adapters.store.db import Queries


class Assignment(NamedTuple):
    task: str
    stage: str
    role: str


class QueuedSpawn(NamedTuple):
    task: str
    project: str
    reason: str  # the limit that holds it


class InFlight(NamedTuple):
    """A spawn that took its slot and has not finished: its session may not exist yet."""

    task: str
    session: str
    project: str
    runtime: str
    pid: int
    started: str  # with pid, the process that spawns (ttal.adapters.processes.started)
    ts: float


class QueueQueries(Queries):
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

    def assignments(self) -> list[Assignment]:
        """Queued role stages, oldest first."""
        rows = self.db.execute("SELECT task, stage, role FROM assign_queue ORDER BY ts").fetchall()
        return [Assignment(*r) for r in rows]

    def enqueue_spawn(self, task: str, project: str, reason: str) -> None:
        """Queue a spawn, or give a queued one its new reason (it keeps its place)."""
        self.db.execute(
            "INSERT INTO spawn_queue(task, project, ts, reason) VALUES (?,?,?,?) "
            "ON CONFLICT(task) DO UPDATE SET reason = excluded.reason",
            (task, project, time.time(), reason),
        )

    def drop_queued_spawn(self, task: str) -> None:
        self.db.execute("DELETE FROM spawn_queue WHERE task = ?", (task,))

    def spawn_queue(self) -> list[QueuedSpawn]:
        """Queued spawns, oldest first."""
        rows = self.db.execute(
            "SELECT task, project, reason FROM spawn_queue ORDER BY ts"
        ).fetchall()
        return [QueuedSpawn(*r) for r in rows]

    def record_spawn(self, task: str, project: str, runtime: str) -> None:
        """A spawn happened: spacing counts from now, and it leaves the queue."""
        self.db.execute(
            "INSERT INTO spawns(ts, task, project, runtime) VALUES (?,?,?,?)",
            (time.time(), task, project, runtime),
        )
        self.drop_queued_spawn(task)

    def last_spawn_in_project(self, project: str) -> float:
        """When a worker was last spawned in `project` (epoch seconds; 0 for never)."""
        row = self.db.execute("SELECT MAX(ts) FROM spawns WHERE project = ?", (project,))
        return float(row.fetchone()[0] or 0.0)

    def last_spawn_of_runtime(self, runtime: str) -> float:
        """When `runtime` last launched a worker (epoch seconds; 0 for never)."""
        row = self.db.execute("SELECT MAX(ts) FROM spawns WHERE runtime = ?", (runtime,))
        return float(row.fetchone()[0] or 0.0)

    def spawned_tasks(self) -> list[str]:
        """Every task a worker was ever spawned for (ttal's own memory of its tasks)."""
        return [str(r[0]) for r in self.db.execute("SELECT DISTINCT task FROM spawns")]

    def reserve_spawn(self, flight: InFlight) -> None:
        """`flight.task` took a slot (under the spawn lock): counted until released."""
        self.db.execute("INSERT OR REPLACE INTO spawning VALUES (?,?,?,?,?,?,?)", flight)

    def release_spawn(self, task: str, pid: int) -> None:
        self.db.execute("DELETE FROM spawning WHERE task = ? AND pid = ?", (task, pid))

    def free_spawn(self, flight: InFlight) -> bool:
        """Free the slot of a spawn whose spawner is gone: only the row naming that very
        process, so a row the task's next spawn took since is kept. False when it was not
        there any more (released, taken again, or freed by another looker)."""
        cur = self.db.execute(
            "DELETE FROM spawning WHERE task = ? AND pid = ? AND started = ?",
            (flight.task, flight.pid, flight.started),
        )
        return cur.rowcount == 1

    def spawns_in_flight(self) -> list[InFlight]:
        """Every reserved slot, a dead spawner's too (the caller tells them apart)."""
        rows = self.db.execute(f"SELECT {', '.join(InFlight._fields)} FROM spawning").fetchall()
        return [InFlight(*r) for r in rows]
