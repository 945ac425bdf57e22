"""What ttal recorded about tasks, read for the reports on the past (`ttal log`,
`ttal insights`): Taskwarrior's rows, read only by uuid, and ttal's events and tag writes
of those tasks, turned into the stage spans of ttal.core.stage_times."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ttal.adapters.store.events import Event
from ttal.core.insights import TaskFacts
from ttal.core.stage_times import Fact, Span, stage_spans, tag_times, tw_time
from ttal.engine.app import App
from ttal.engine.lookup import pipeline_for
from ttal.errors import TtalError

CHUNK = 100  # uuids per `task export`: one short command line each


def facts_of(events: Sequence[Event]) -> list[Fact]:
    return [Fact(e.ts, e.task, e.kind, e.actor, e.detail) for e in events]


def read_rows(app: App, uuids: Sequence[str]) -> list[dict[str, Any]]:
    """Taskwarrior's rows of these tasks (pending, completed or deleted), by uuid only: a
    user's years of other tasks are never read into Python."""
    rows: dict[str, dict[str, Any]] = {}
    for n in range(0, len(uuids), CHUNK):
        for row in app.tw.export(*uuids[n : n + CHUNK]):
            rows[str(row["uuid"])] = row  # 2.6 may show a task twice (engine/reconcile.py)
    return [rows[u] for u in uuids if u in rows]


def spans_of(app: App, task: dict[str, Any], facts: Sequence[Fact],
             writes: Sequence[tuple[str, float]], now: float) -> list[Span]:  # fmt: skip
    """The task's stages as its pipeline in ttal.yaml has them; none when no pipeline
    matches it any more (the config changed since)."""
    try:
        stages = pipeline_for(app, task).stages
    except TtalError:
        return []
    owner = str(task.get("ttal_owner") or "")
    return stage_spans(stages, facts, tag_times(writes), tw_time(task.get("entry")), owner, now)


def task_facts(app: App, rows: Sequence[dict[str, Any]], now: float) -> list[TaskFacts]:
    uuids = [str(r["uuid"]) for r in rows]
    events: dict[str, list[Fact]] = {u: [] for u in uuids}
    for fact in facts_of(app.state.task_events(uuids)):
        events[fact.task].append(fact)
    writes = app.state.tag_writes(uuids)
    found = []
    for row in rows:
        uuid = str(row["uuid"])
        spans = spans_of(app, row, events[uuid], writes[uuid], now)
        status = str(row.get("status", ""))
        end = tw_time(row.get("end")) if status in ("completed", "deleted") else None
        found.append(TaskFacts(uuid, str(row.get("description", "")),
                               str(row.get("project", "")), status, end, tuple(spans),
                               tuple(events[uuid])))  # fmt: skip
    return found
