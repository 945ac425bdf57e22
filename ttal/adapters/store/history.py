"""Reads for the reports on the past (`ttal log`, `ttal insights`): a task's whole record
across the event log, the journal, the messages and ttal's Taskwarrior writes, and the
events of a span of time. Read-only; every query is by task (indexed) or by time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ttal.adapters.store.db import Queries, marks
from ttal.adapters.store.events import Event
from ttal.adapters.store.journal import INTENT_COLUMNS, Intent
from ttal.adapters.store.messages import MESSAGE_COLUMNS, Message, _message

CHUNK = 500  # tasks per query: SQLite's limit on bound values is 32766, older builds 999


class HistoryQueries(Queries):
    def task_events(self, tasks: Sequence[str]) -> list[Event]:
        """Every event of these tasks, oldest first."""
        return self._by_task("SELECT ts, task, kind, actor, detail, id FROM events WHERE",
                             tasks, lambda r: Event(*r[:5]))  # fmt: skip

    def events_since(self, since: float, kinds: Sequence[str] = ()) -> list[Event]:
        """The events from `since` on (of these kinds, when given), oldest first."""
        sql = "SELECT ts, task, kind, actor, detail FROM events WHERE ts >= ?"
        args: list[Any] = [since]
        if kinds:
            sql += f" AND kind IN ({marks(kinds)})"
            args += kinds
        return [Event(*r) for r in self.db.execute(sql + " ORDER BY id", args).fetchall()]

    def tag_writes(self, tasks: Sequence[str]) -> dict[str, list[tuple[str, float]]]:
        """task -> (`+tag`, when) of the tags ttal wrote to it (not the refused), oldest first."""
        found: dict[str, list[tuple[str, float]]] = {t: [] for t in tasks}
        rows = self._by_task(
            "SELECT task, field, written_at, id FROM tw_writes WHERE field LIKE '+%' "
            "AND state != 'failed' AND", tasks, lambda r: r)  # fmt: skip
        for task, tag, ts, _id in rows:
            found[str(task)].append((str(tag), float(ts)))
        return found

    def task_intents(self, task: str) -> list[Intent]:
        rows = self.db.execute(
            f"SELECT {INTENT_COLUMNS} FROM intents WHERE task = ? ORDER BY id", (task,)
        ).fetchall()
        return [_intent(r) for r in rows]

    def intents_since(self, since: float, states: Sequence[str]) -> list[Intent]:
        rows = self.db.execute(
            f"SELECT {INTENT_COLUMNS} FROM intents WHERE ts >= ? AND state IN ({marks(states)}) "
            "ORDER BY id",
            (since, *states),
        ).fetchall()
        return [_intent(r) for r in rows]

    def task_messages(self, task: str) -> list[Message]:
        sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE task = ? ORDER BY id"
        return [_message(r) for r in self.db.execute(sql, (task,)).fetchall()]

    def tasks_since(self, since: float) -> list[str]:
        """The tasks with an event from `since` on, in the order of their first one there."""
        rows = self.db.execute(
            "SELECT task FROM (SELECT task, MIN(id) AS first FROM events WHERE ts >= ? "
            "AND task != '' GROUP BY task) ORDER BY first",
            (since,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def _by_task(self, select: str, tasks: Sequence[str], row: Any) -> list[Any]:
        """`select` (ending in WHERE or AND) for these tasks, a chunk at a time, in the order
        of their rows' last column (id)."""
        found: list[Any] = []
        for n in range(0, len(tasks), CHUNK):
            part = list(tasks[n : n + CHUNK])
            found += self.db.execute(f"{select} task IN ({marks(part)})", part).fetchall()
        return [row(r) for r in sorted(found, key=lambda r: r[-1])]


def _intent(r: Sequence[Any]) -> Intent:
    return Intent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9], r[10])
