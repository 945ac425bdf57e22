"""ttal's record of the tasks it finished: the facts of each one's `ttal status` row, written
when ttal marks the task done (engine/merge.py), kept a week.

Why a copy of what Taskwarrior holds: `ttal status` shows the tasks ttal finished in the
last day, and the only Taskwarrior filter that finds them is one that can match a finished
task, which makes 3.x load every task instead of its working set (docs/speed.md). With this
record status asks Taskwarrior for `status:pending` only. It says what ttal did and when; a
later change by hand (a description edited, the task deleted or reopened) is not seen here,
and a reopened task's pending row wins in status.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

from ttal.adapters.store.db import Queries

KEEP = 7 * 86400.0  # seconds a record is kept: a status shows one day of it


@dataclass(frozen=True)
class Finished:
    uuid: str
    project: str
    description: str
    entry: float  # when the task was entered (epoch seconds; 0 unknown)
    ended: float  # when ttal marked it done
    worker: str = ""  # ttal_session
    reviewer: str = ""  # ttal_reviewer
    health: str = ""  # ttal_health, as the watchdog last wrote it
    owner: str = ""  # ttal_owner


COLUMNS = ", ".join(f.name for f in fields(Finished))


class FinishedQueries(Queries):
    def record_finished(self, task: Finished) -> None:
        """Record (or record again: a retried finish) that ttal finished `task`, and forget
        the records older than KEEP. Pruned here, on a write, so a status stays a read."""
        self.db.execute("DELETE FROM finished WHERE ended < ?", (task.ended - KEEP,))
        self.db.execute(f"INSERT OR REPLACE INTO finished({COLUMNS}) "
                        f"VALUES ({','.join('?' * len(fields(Finished)))})",
                        astuple(task))  # fmt: skip

    def finished_since(self, since: float) -> list[Finished]:
        """The tasks ttal finished at `since` or later, oldest first."""
        rows = self.db.execute(
            f"SELECT {COLUMNS} FROM finished WHERE ended >= ? ORDER BY ended", (since,)
        ).fetchall()
        return [Finished(*r) for r in rows]
