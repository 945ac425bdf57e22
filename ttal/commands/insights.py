"""`ttal insights`: the weekly review of the fleet, from what ttal recorded (its event log,
journal and tag writes) and the Taskwarrior rows of the tasks it touched in the window.
The figures are computed in ttal.core.insights; this gathers their records."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ttal.core.insights import (
    FAILED,
    FLAGGED,
    ActionLine,
    CostItem,
    Insights,
    parse_since,
    summarize,
)
from ttal.core.trouble import WATCH_CLOSE, WATCH_OPEN
from ttal.engine.app import App
from ttal.engine.records import facts_of, read_rows, task_facts
from ttal.errors import UsageError


def insights(app: App, since: str = "7d", costs: Sequence[CostItem] = ()) -> Insights:
    """`costs`: the cost records of the window, when there are any."""
    now = time.time()
    try:
        start = parse_since(since, now)
    except ValueError as err:
        raise UsageError(f"--since: {err}", hint="e.g. --since 7d or --since 2026-11-25") from None
    if start >= now:
        raise UsageError(f"--since {since} is not in the past", hint="e.g. --since 7d")
    rows = read_rows(app, app.state.tasks_since(start), start)
    tasks = task_facts(app, rows, now)
    # All of the watchdog's events (they are few): an episode may have begun before the window.
    watch = facts_of(app.state.events_since(0, (*WATCH_OPEN, *WATCH_CLOSE)))
    actions = [ActionLine(i.id, i.ts, i.action, i.task, i.state, i.note)
               for i in app.state.intents_since(start, (*FAILED, *FLAGGED))]  # fmt: skip
    roles = {name: agent.role for name, agent in app.cfg.agents.items()}
    return summarize(tasks, watch, actions, roles, start, now, costs)
