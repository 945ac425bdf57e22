"""Limits and spacing for spawns: how many workers at once (globally and per project), and
how far apart two spawns must be per project and per runtime, so a fleet does not collide
or hit a provider's rate limit all at once. Work beyond them waits in a queue, in order;
`ttal watch` (or `ttal deliver`) starts it when it may go."""

from __future__ import annotations

import time
from typing import Any

from ttal.adapters.store.queues import QueuedSpawn
from ttal.config.model import Project, Runtime
from ttal.engine.app import App
from ttal.errors import TtalError, Waiting


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
    for scope, name, spacing, last_spawn in (
        ("project", project.name, project.spawn_spacing, app.state.last_spawn_in_project),
        ("runtime", runtime.name, runtime.spawn_spacing, app.state.last_spawn_of_runtime),
    ):
        wait = spacing - (now - last_spawn(name))
        if spacing and wait > 0:
            return f"spawn spacing of {scope} {name}: next in {wait:.1f}s"
    return ""


def _project_workers(app: App, project: Project, running: set[str]) -> int:
    tasks = app.tw.export("status:pending", f"project:{project.name}", "ttal_session.any:")
    return sum(1 for t in tasks if t.get("ttal_session") in running)


def _enqueue(app: App, uuid: str, project: str, reason: str) -> int:
    app.state.enqueue_spawn(uuid, project, reason)
    tasks = [t for t, _, _ in queue(app)]
    return tasks.index(uuid) + 1


def record_spawn(app: App, uuid: str, project: str, runtime: str) -> None:
    app.state.record_spawn(uuid, project, runtime)


def queue(app: App) -> list[QueuedSpawn]:
    """Queued spawns (task, project, reason), oldest first."""
    return app.state.spawn_queue()


def start_queued(app: App) -> list[dict[str, Any]]:
    """Try every queued spawn, oldest first; each re-checks the limits."""
    from ttal.engine import drive

    started = []
    for uuid, _project, _reason in queue(app):
        try:
            outcome = drive.go(app, uuid)
        except TtalError as err:
            app.state.event("spawn-retry-failed", uuid, app.caller.name, err.message)
            continue
        if outcome.did:
            started.append({"task": uuid, "did": outcome.did})
        task = app.tw.get(uuid)
        if task.get("status") != "pending" or task.get("ttal_session"):
            app.state.drop_queued_spawn(uuid)
    return started
