"""`ttal log TASK`: everything that happened to one task, in order (ttal.core.timeline),
and its stages with how long each took (ttal.core.stage_times)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ttal.core.insights import CostItem
from ttal.core.stage_times import Span
from ttal.core.timeline import Entry, JournalLine, MessageLine, timeline
from ttal.engine.app import App
from ttal.engine.records import facts_of, spans_of


@dataclass(frozen=True)
class StageCost:
    tokens: int
    usd: float


@dataclass(frozen=True)
class TaskLog:
    uuid: str
    id: int
    description: str
    project: str
    status: str
    tags: list[str]
    entries: list[Entry]
    stages: list[Span]
    # stage -> its cost; empty without cost records (then no cost is shown, never a zero)
    cost: dict[str, StageCost]

    def as_dict(self) -> dict[str, Any]:
        stages = [{**asdict(s), "seconds": s.seconds,
                   "cost": asdict(self.cost[s.stage]) if s.stage in self.cost else None}
                  for s in self.stages]  # fmt: skip
        return {"uuid": self.uuid, "id": self.id, "description": self.description,
                "project": self.project, "status": self.status, "tags": self.tags,
                "entries": [e.as_dict() for e in self.entries], "stages": stages,
                "cost": {k: asdict(v) for k, v in self.cost.items()} or None}  # fmt: skip


def task_log(app: App, ref: str, costs: Sequence[CostItem] = ()) -> TaskLog:
    """`costs`: the task's cost records, when there are any."""
    task = app.tw.get(ref)
    uuid = str(task["uuid"])
    facts = facts_of(app.state.task_events([uuid]))
    writes = app.state.tag_writes([uuid])[uuid]
    journal = [JournalLine(i.ts, i.action, i.state, i.key, i.note)
               for i in app.state.task_intents(uuid)]  # fmt: skip
    messages = [MessageLine(m.ts, m.sender, m.recipient, m.body, m.delivered)
                for m in app.state.task_messages(uuid)]  # fmt: skip
    entries = timeline(task, facts, writes, journal, messages)
    spans = spans_of(app, task, facts, writes, time.time())
    tags = sorted(task.get("tags") or [])
    return TaskLog(uuid, int(task.get("id") or 0), str(task.get("description", "")),
                   str(task.get("project", "")), str(task.get("status", "")), tags, entries,
                   spans, _by_stage(costs, uuid))  # fmt: skip


def _by_stage(costs: Sequence[CostItem], uuid: str) -> dict[str, StageCost]:
    found: dict[str, StageCost] = {}
    for c in costs:
        if c.task == uuid:
            was = found.get(c.stage, StageCost(0, 0.0))
            found[c.stage] = StageCost(was.tokens + c.tokens, was.usd + c.usd)
    return found
