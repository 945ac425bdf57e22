"""What agents say about themselves: the runtime's idle/busy signal (`ttal report`) and an
agent's "still working" (`ttal heartbeat`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ttal.adapters.store.db import Queries


@dataclass(frozen=True)
class AgentStatus:
    agent: str
    state: str  # idle or busy, as the runtime last reported it
    since: float  # when it entered that state
    seen: float  # the last report
    source: str


class AgentQueries(Queries):
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

    def replace_status(self, was: AgentStatus, state: str, source: str) -> bool:
        """Set `agent`'s status only if it is still `was` (no report came in since it was
        read): a delivery's own hold must never overwrite a runtime's newer report."""
        now = time.time()
        changed = self.db.execute(
            "UPDATE agent_status SET state = ?, source = ?, since = ?, seen = ? "
            "WHERE agent = ? AND state = ? AND source = ? AND seen = ?",
            (state, source, now, now, was.agent, was.state, was.source, was.seen),
        )
        return changed.rowcount == 1

    def status(self, agent: str) -> AgentStatus | None:
        row = self.db.execute(
            "SELECT agent, state, since, seen, source FROM agent_status WHERE agent = ?", (agent,)
        ).fetchone()
        return AgentStatus(*row) if row else None

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
