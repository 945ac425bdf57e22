"""The spawn queue: a worker that limits hold back (core/spawn_limits.py decides) waits
here, in order; `ttal watch` (or `ttal deliver`) starts it when it may go
(engine/queues.start_queued)."""

from __future__ import annotations

import time
from typing import NoReturn

from ttal.adapters.store.queues import QueuedSpawn
from ttal.config.model import Project, Runtime
from ttal.core.spawn_limits import SpawnLimits, spawn_blocked
from ttal.engine.app import App
from ttal.errors import Waiting


def blocked(app: App, uuid: str, project: Project, runtime: Runtime, running: set[str]) -> str:
    """Why a limit says not now ("" when the task may spawn). Callers hold the spawn lock
    until the spawn is recorded, so two spawns cannot both take the last slot."""
    limits = SpawnLimits(
        max_workers=app.cfg.limits.max_workers,
        project=project.name,
        project_max=project.max_workers,
        project_spacing=project.spawn_spacing,
        runtime=runtime.name,
        runtime_spacing=runtime.spawn_spacing,
    )
    queued = [t for t, p, _ in queue(app) if p == project.name]
    last = {"project": app.state.last_spawn_in_project, "runtime": app.state.last_spawn_of_runtime}
    workers = lambda: _project_workers(app, project, running)  # noqa: E731
    return spawn_blocked(uuid, limits, queued, running, workers,
                         lambda scope, name: last[scope](name), time.time())  # fmt: skip


def hold(app: App, uuid: str, project: str, reason: str) -> NoReturn:
    """Queue the task (or update why it waits) and stop the step here."""
    position = _enqueue(app, uuid, project, reason)
    raise Waiting(f"queued (position {position}): {reason}; `ttal watch` starts it")


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


def forget(app: App, uuid: str) -> None:
    """Take a task off the spawn queue (it was started, or is no longer pending)."""
    app.state.drop_queued_spawn(uuid)
