"""ttal's own memory: one SQLite database (WAL) in the state directory.

It holds what Taskwarrior, git and tmux cannot tell us: the messages sent (and whether
they were delivered), the action journal, queues, agents' reports and diaries, and an event
log. Task status is never stored here; it is derived (the one copy: the facts of the
tasks ttal finished, kept a week for `ttal status`; store/finished.py says why).

All of ttal's SQL lives in this package: one module per group of tables, each a part of
State, the one object the rest of ttal holds (`app.state`).
"""

from __future__ import annotations

from pathlib import Path

from ttal.adapters.store.agents import AgentQueries
from ttal.adapters.store.db import connect
from ttal.adapters.store.diary import DiaryQueries
from ttal.adapters.store.events import EventQueries
from ttal.adapters.store.finished import FinishedQueries
from ttal.adapters.store.forge import ForgeQueries
from ttal.adapters.store.history import HistoryQueries
from ttal.adapters.store.journal import JournalQueries
from ttal.adapters.store.merge_queue import MergeQueueQueries
from ttal.adapters.store.messages import MessageQueries
from ttal.adapters.store.queues import QueueQueries
from ttal.adapters.store.usage import UsageQueries
from ttal.adapters.store.watch import WatchQueries
from ttal.adapters.store.writes import WriteQueries


class State(
    EventQueries,
    MessageQueries,
    AgentQueries,
    QueueQueries,
    JournalQueries,
    DiaryQueries,
    WatchQueries,
    WriteQueries,
    HistoryQueries,
    ForgeQueries,
    UsageQueries,
    MergeQueueQueries,
    FinishedQueries,
):
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "ttal.db"
        self.db = connect(self.path)
