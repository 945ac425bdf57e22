"""The event log: what ttal did and who asked, for `ttal log`, the demo, and `ttal up`'s
memory of who started a persistent agent."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ttal.adapters.store.db import Queries


@dataclass(frozen=True)
class Event:
    ts: float
    task: str
    kind: str
    actor: str
    detail: str


class EventQueries(Queries):
    def event(self, kind: str, task: str = "", actor: str = "", detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO events(ts, task, kind, actor, detail) VALUES (?,?,?,?,?)",
            (time.time(), task, kind, actor, detail),
        )

    def events(self, task: str = "", limit: int = 100) -> list[Event]:
        """The last `limit` events (of `task`, when given), oldest first."""
        sql = "SELECT ts, task, kind, actor, detail FROM events"
        args: tuple[Any, ...] = ()
        if task:
            sql, args = sql + " WHERE task = ?", (task,)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [Event(*row) for row in reversed(rows)]

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
