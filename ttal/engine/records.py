"""What ttal recorded about tasks, read for the reports on the past (`ttal log`,
`ttal insights`): Taskwarrior's rows, read only by uuid, and ttal's events and tag writes
of those tasks, turned into the stage spans of ttal.core.stage_times."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ttal.adapters.store.events import Event
from ttal.core.insights import TaskFacts
from ttal.core.stage_times import Fact, Span, stage_spans, tag_times, tw_time
from ttal.engine.app import App
from ttal.engine.lookup import pipeline_for
from ttal.errors import TtalError

CHUNK = 50  # uuids per `task export` (each uuid is a term of the filter)


def facts_of(events: Sequence[Event]) -> list[Fact]:
    return [Fact(e.ts, e.task, e.kind, e.actor, e.detail) for e in events]


def read_rows(app: App, uuids: Sequence[str], since: float | None = None) -> list[dict[str, Any]]:
    """Taskwarrior's rows of these tasks (pending, completed or deleted), in that order.
    With `since`: the pending tasks and those that ended since then, each in one export,
    and only the rest by uuid. A list of uuids is the slow filter: on 2.6, with 20,000
    finished tasks, 100 uuids cost 25 times the CPU of one date filter (measured)."""
    wanted = list(dict.fromkeys(uuids))
    rows: dict[str, dict[str, Any]] = {}
    if since is not None and wanted:
        want = set(wanted)
        ended = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
        for row in [*app.tw.export("status:pending"), *app.tw.export(f"end.after:{ended}")]:
            if row["uuid"] in want:
                rows[str(row["uuid"])] = row
    missing = [u for u in wanted if u not in rows]  # ended before the window, yet active in it
    for n in range(0, len(missing), CHUNK):
        for row in app.tw.export(*missing[n : n + CHUNK]):
            rows[str(row["uuid"])] = row  # 2.6 may show a task twice (engine/reconcile.py)
    return [rows[u] for u in wanted if u in rows]


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
