"""Limits and spacing for spawns: how many workers at once (globally and per project), and
how far apart two spawns must be per project and per runtime, so a fleet does not collide
or hit a provider's rate limit all at once. Work beyond them waits in a queue, in order;
`ttal watch` (or `ttal deliver`) starts it when it may go."""

from __future__ import annotations

import time

from ttal.config.model import Project, Runtime
from ttal.engine.app import App
from ttal.errors import Waiting


def check_spawn(app: App, uuid: str, project: Project, runtime: Runtime, running: set[str]) -> None:
    """Raise Waiting (and queue the task) when a limit says not now. Callers hold the spawn
    lock until the spawn is recorded, so two spawns cannot both take the last slot."""
    reason = _blocked(app, uuid, project, runtime, running)
    if reason:
        position = _enqueue(app, uuid, project.name, reason)
        raise Waiting(f"queued (position {position}): {reason}; `ttal watch` starts it")


def _blocked(app: App, uuid: str, project: Project, runtime: Runtime, running: set[str]) -> str:
    ahead = [t for t, p, _ in queue(app) if p == project.name]
    if ahead and ahead[0] != uuid:  # order is kept within a project
        return f"{len(ahead)} earlier task(s) of {project.name} are waiting"
    workers = [s for s in running if s.startswith("w-") and s != f"w-{uuid[:8]}"]
    if len(workers) >= app.cfg.limits.max_workers:
        return f"{len(workers)} workers running (limits.max_workers)"
    if project.max_workers and _project_workers(app, project, running) >= project.max_workers:
        return f"{project.max_workers} workers running in {project.name} (its max_workers)"
    now = time.time()
    for scope, column, name, spacing in (
        ("project", "project", project.name, project.spawn_spacing),
        ("runtime", "runtime", runtime.name, runtime.spawn_spacing),
    ):
        wait = spacing - (now - _last_spawn(app, column, name))
        if spacing and wait > 0:
            return f"spawn spacing of {scope} {name}: next in {wait:.1f}s"
    return ""


def _project_workers(app: App, project: Project, running: set[str]) -> int:
    tasks = app.tw.export("status:pending", f"project:{project.name}", "ttal_session.any:")
    return sum(1 for t in tasks if t.get("ttal_session") in running)


def _last_spawn(app: App, column: str, name: str) -> float:
    row = app.state.db.execute(f"SELECT MAX(ts) FROM spawns WHERE {column} = ?", (name,)).fetchone()
    return float(row[0] or 0.0)


def _enqueue(app: App, uuid: str, project: str, reason: str) -> int:
    app.state.db.execute(
        "INSERT INTO spawn_queue(task, project, ts, reason) VALUES (?,?,?,?) "
        "ON CONFLICT(task) DO UPDATE SET reason = excluded.reason",
        (uuid, project, time.time(), reason),
    )
    tasks = [t for t, _, _ in queue(app)]
    return tasks.index(uuid) + 1


def record_spawn(app: App, uuid: str, project: str, runtime: str) -> None:
    app.state.db.execute(
        "INSERT INTO spawns(ts, task, project, runtime) VALUES (?,?,?,?)",
        (time.time(), uuid, project, runtime),
    )
    app.state.db.execute("DELETE FROM spawn_queue WHERE task = ?", (uuid,))


def queue(app: App) -> list[tuple[str, str, str]]:
    """Queued spawns (task, project, reason), oldest first."""
    rows = app.state.db.execute(
        "SELECT task, project, reason FROM spawn_queue ORDER BY ts"
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def forget(app: App, uuid: str) -> None:
    """Take a task off the spawn queue (it was started, or is no longer pending)."""
    app.state.db.execute("DELETE FROM spawn_queue WHERE task = ?", (uuid,))
