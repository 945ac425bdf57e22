"""What `ttal watch` remembers about each agent between passes (deaths, restarts, alerts
already sent); the record itself and the decisions on it are in ttal.core.watchdog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ttal.adapters.store.db import Queries, marks

if TYPE_CHECKING:
    from ttal.core.watchdog import WatchRecord

WATCH_COLUMNS = ("agent", "health", "deaths", "restarts", "dead_at", "restarted_at", "next_at",
                 "stuck_at", "dirty_at")  # fmt: skip


class WatchQueries(Queries):
    def watch_record(self, agent: str) -> WatchRecord:
        # Imported here: every command opens the store, only `ttal watch` reads these.
        from ttal.core.watchdog import WatchRecord

        cols = ", ".join(WATCH_COLUMNS)
        row = self.db.execute(f"SELECT {cols} FROM watch WHERE agent = ?", (agent,)).fetchone()
        return WatchRecord(*row) if row else WatchRecord(agent)

    def save_watch(self, record: WatchRecord) -> None:
        values = [getattr(record, c) for c in WATCH_COLUMNS]
        self.db.execute(f"INSERT OR REPLACE INTO watch({', '.join(WATCH_COLUMNS)}) "
                        f"VALUES ({marks(values)})", values)  # fmt: skip
