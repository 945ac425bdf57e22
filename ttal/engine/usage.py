"""Token usage per task: recorded as sessions start, read from the runtimes' own files on each
watchdog pass, priced when asked (docs/cost.md).

`register` runs when ttal starts a session (engine/sessions.py) and when a worker is briefed
for a later stage (engine/apply.py): usage read later is attributed to the task, project
and stage in force when the runtime wrote it. `read_all` reads every session file from its
cursor. `cost_by_task` and `cost_for` are the figures `status`, `log` and `insights` show.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

from ttal.adapters.runtimes import transcripts
from ttal.adapters.store.usage import Cursor, UsageSession
from ttal.core.costs import Cost, Usage, price_of
from ttal.core.usage_lines import claude_usage, codex_usage
from ttal.engine.app import App

SETTLE = 60.0  # seconds after a session ended before its file counts as read to the end


def register(app: App, name: str, kind: str, session_id: str, env: Mapping[str, str],
             task: str = "", project: str = "", stage: str = "",
             role: str = "") -> None:  # fmt: skip
    """A session started (or moved to another stage): where its usage will come from (a
    `command` runtime's cannot be read, but its session is known, e.g. to a budget stop)."""
    home = transcripts.home_of(kind, {**os.environ, **env}, app.run_dir)
    sid = session_id if kind != "scripted" else name
    app.state.register_session(UsageSession(name, sid, kind, home, task, project, stage, role,
                                            time.time()))  # fmt: skip


def new_stage(app: App, name: str, stage: str) -> None:
    """A worker briefed for `stage` in its running session: what it spends now is that
    stage's."""
    last = app.state.latest_session(name)
    if last is not None and last.stage != stage:
        app.state.register_session(UsageSession(last.name, last.session_id, last.kind,
                                                last.home, last.task, last.project, stage,
                                                last.role, time.time()))  # fmt: skip


def read_all(app: App, live: set[str] | None = None) -> int:
    """Read what is new in every session file; returns how many replies were recorded.
    `live`: the sessions running now (a file of a session that ended is read once more,
    then left alone)."""
    live = set(app.tmux.sessions()) if live is None else live
    count = 0
    for session in app.state.sessions_to_read():
        if session.kind == "codex":
            session = _codex_id(app, session)
        count += _read_one(app, session, session.name in live)
    return count


def _codex_id(app: App, session: UsageSession) -> UsageSession:
    """ttal names a Codex session's id before the launch; Codex picks its own and its
    SessionStart hook writes it to the session-id file."""
    try:  # as engine/sessions.py writes it (not imported: sessions imports this module)
        recorded = (app.run_dir / f"{session.name}.session-id").read_text("utf-8").strip()
    except OSError:
        return session
    latest = app.state.latest_session(session.name)
    if recorded and recorded != session.session_id and latest == session:
        app.state.rename_session_id(session.name, session.session_id, recorded)
        return app.state.latest_session(session.name) or session
    return session


def _read_one(app: App, session: UsageSession, alive: bool) -> int:
    """Read each of the session's files from its cursor; once the session has ended and
    every file is read to its end, the session is done (until it is resumed)."""
    known = app.state.first_path(session.name, session.session_id)
    paths = transcripts.files(session.kind, session.home, session.session_id, session.name, known)
    count, settled = 0, not alive and time.time() - session.since > SETTLE
    for path in paths:
        recorded, at_end = _read_file(app, session, path)
        count += recorded
        settled = settled and at_end
    if settled:  # (a session killed before its first turn never wrote a file)
        app.state.session_done(session.name, session.session_id)
    return count


def _read_file(app: App, session: UsageSession, path: Path) -> tuple[int, bool]:
    """(replies recorded, whether the file is read to its end)."""
    cursor = app.state.cursor(session.name, session.session_id, str(path))
    chunk = transcripts.read_new(path, cursor.inode, cursor.offset)
    at_end = chunk.offset >= transcripts.size_of(path)
    if chunk.offset == cursor.offset and not chunk.restarted and not chunk.lines:
        return 0, at_end
    state = {} if chunk.restarted else json.loads(cursor.state or "{}")
    found, state = _parse(session, chunk.lines, state)
    history = app.state.session_history(session.name, session.session_id)
    rows = [(usage, _in_force(history, usage.at)) for usage in found]
    new = Cursor(str(path), chunk.inode, chunk.offset, json.dumps(state))
    app.state.record_usage(session.name, session.session_id, new, rows)
    return len(rows), at_end


def _parse(session: UsageSession, lines: list[str], state: dict[str, object]
           ) -> tuple[list[Usage], dict[str, object]]:  # fmt: skip
    now = time.time()
    if session.kind == "codex":
        found, state = codex_usage(lines, state, session.session_id)
    else:
        found = claude_usage(lines)
    return [u if u.at else Usage(u.key, u.model, now, u.input, u.output, u.cache_read,
                                 u.cache_write) for u in found], state  # fmt: skip


def _in_force(history: list[UsageSession], at: float) -> UsageSession:
    """The row (task, stage) in force when the runtime wrote at `at`."""
    chosen = history[0]
    for row in history:
        if row.since <= at:
            chosen = row
    return chosen


# ---- the figures -------------------------------------------------------------------------


def cost_by_task(app: App, tasks: list[str] | None = None) -> dict[str, Cost]:
    """Each task's tokens and dollars so far (all stages, all sessions), by uuid."""
    where, args = ("", ()) if tasks is None else (_in("task", tasks), tuple(tasks))
    return _priced(app, app.state.usage_counts(where, args, by="task"))


def cost_for(app: App, uuid: str) -> Cost:
    return cost_by_task(app, [uuid]).get(uuid, Cost())


def cost_by_stage(app: App, uuid: str) -> dict[str, Cost]:
    """One task's cost per stage, by stage name."""
    return _priced(app, app.state.usage_counts("task = ?", (uuid,), by="stage"))


def cost_on(app: App, day: str, project: str = "") -> Cost:
    """What every session (of `project`, when given) spent on `day` (YYYY-MM-DD, local)."""
    where, args = ("day = ? AND project = ?", (day, project)) if project else ("day = ?", (day,))
    rows = app.state.usage_counts(where, args, by="'all'")
    return _priced(app, rows).get("all", Cost())


def _priced(app: App, rows: list[tuple[object, ...]]) -> dict[str, Cost]:
    out: dict[str, Cost] = {}
    for key, model, *counts in rows:
        i, o, r, w = (int(c or 0) for c in counts)  # type: ignore[call-overload]
        out.setdefault(str(key), Cost()).add(str(model), (i, o, r, w),
                                             price_of(str(model), app.cfg.prices))  # fmt: skip
    return out


def _in(column: str, values: list[str]) -> str:
    from ttal.adapters.store.db import marks

    return f"{column} IN ({marks(values)})" if values else "0"
