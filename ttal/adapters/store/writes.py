"""ttal's record of its own Taskwarrior writes: each write that matters is recorded here
before it is made, so a reconciler (engine/reconcile.py) can tell when Taskwarrior lost it
(2.6's garbage collection in a person's `task list` rewrites pending.data from an old copy).

One row per field written (a tag is the field `+tag`). The latest row of a field is what
ttal wants there; older rows are values ttal wrote before. States: pending (written, not
yet seen), applied (a read showed it), conflict (someone else wrote another value), failed
(the write was refused: never re-applied), settled (the task finished and stayed so).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ttal.adapters.store.db import Queries, marks
from ttal.core.writes import Write

OPEN = ("pending", "applied", "conflict")


class WriteQueries(Queries):
    def record_writes(self, task: str, fields: Sequence[tuple[str, str]]) -> list[int]:
        now = time.time()
        ids = []
        self.db.execute("BEGIN IMMEDIATE")  # one commit per write, however many fields
        try:
            for field, value in fields:
                cur = self.db.execute(
                    "INSERT INTO tw_writes(task, field, value, state, written_at) "
                    "VALUES (?,?,?,'pending',?)",
                    (task, field, value, now),
                )
                ids.append(int(cur.lastrowid or 0))
        finally:
            self.db.execute("COMMIT")
        return ids

    def mark_writes(self, ids: Sequence[int], state: str, note: str = "") -> None:
        if ids:
            self.db.execute(
                f"UPDATE tw_writes SET state = ?, note = ? WHERE id IN ({marks(ids)})",
                (state, note, *ids),
            )

    def task_writes(self, task: str) -> list[Write]:
        """ttal's latest write of each field of `task` that is still open, with the values
        it wrote there before."""
        rows = self.db.execute(
            "SELECT id, field, value, state FROM tw_writes WHERE task = ? AND state != 'failed' "
            "ORDER BY id",
            (task,),
        ).fetchall()
        latest: dict[str, tuple[int, str, str]] = {}
        earlier: dict[str, set[str]] = {}
        for id_, field, value, state in rows:
            if field in latest:
                earlier.setdefault(field, set()).add(latest[field][1])
            latest[field] = (int(id_), str(value), str(state))
        return [Write(id_, field, value, state, frozenset(earlier.get(field, ())))
                for field, (id_, value, state) in latest.items() if state in OPEN]  # fmt: skip

    def open_write_tasks(self) -> list[str]:
        """Tasks with writes not yet settled, oldest first."""
        rows = self.db.execute(
            f"SELECT task FROM tw_writes WHERE state IN ({marks(OPEN)}) GROUP BY task "
            "ORDER BY MIN(id)",
            OPEN,
        ).fetchall()
        return [str(r[0]) for r in rows]

    def last_write_at(self, task: str) -> float:
        row = self.db.execute("SELECT MAX(written_at) FROM tw_writes WHERE task = ?", (task,))
        return float(row.fetchone()[0] or 0.0)

    def settle_writes(self, task: str) -> None:
        self.db.execute(
            f"UPDATE tw_writes SET state = 'settled' WHERE task = ? AND state IN ({marks(OPEN)})",
            (task, *OPEN),
        )

    def write_conflicts(self) -> list[tuple[str, str, str, str]]:
        """(task, field, ttal's value, the value found) of each flagged write that ttal has not
        written over since."""
        rows = self.db.execute(
            "SELECT task, field, value, note FROM tw_writes w WHERE state = 'conflict' AND id = "
            "(SELECT MAX(id) FROM tw_writes l WHERE l.task = w.task AND l.field = w.field "
            "AND l.state != 'failed') ORDER BY id"
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]
