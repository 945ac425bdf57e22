"""The spawn queue: a worker that limits hold back (core/spawn_limits.py decides) waits
here, in order; `ttal watch` (or `ttal deliver`) starts it when it may go
(engine/queues.start_queued).

Spawns run in parallel: the spawn lock covers only the decision (count, check the limits,
take a slot), not the spawn. A slot taken is a row in `spawning` until the spawn ends, and
counts as a running worker (and as a spawn, for spacing) meanwhile; a slot whose spawner
died (kill -9) stops counting. So the limits stay exact, no two spawns take the last slot,
and one spawn's worktree and session no longer wait for another's (issue 14: 50 `ttal go`
at once waited a median of 10.3 s)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from ttal.adapters import locks, processes
from ttal.adapters.store.queues import InFlight, QueuedSpawn
from ttal.config.model import Project, Runtime
from ttal.core.spawn_limits import SpawnLimits, spawn_blocked
from ttal.engine.app import App
from ttal.errors import Waiting


@contextmanager
def slot(
    app: App, uuid: str, session: str, project: Project, runtime: Runtime
) -> Iterator[set[str]]:
    """Take a slot for `uuid`'s worker, or queue it (Waiting) when a limit says not now;
    yields the sessions running (tmux) for the spawn, and frees the slot when it ends.
    The caller holds the task's lock: one spawn per task at a time."""
    me = InFlight(uuid, session, project.name, runtime.name, os.getpid(),
                  processes.started(os.getpid()), time.time())  # fmt: skip
    with locks.held(app.lock_dir / "spawn.lock"):  # the decision only
        running = set(app.tmux.sessions())
        if session not in running:
            flying = [f for f in in_flight(app) if f.task != uuid]
            if reason := blocked(app, uuid, project, runtime, running, flying):
                hold(app, uuid, project.name, reason)
            app.state.reserve_spawn(me)
    try:
        yield running
    finally:
        app.state.release_spawn(uuid, me.pid)


def in_flight(app: App) -> list[InFlight]:
    """Slots taken by spawns still running (their spawner's process lives)."""
    return [f for f in app.state.spawns_in_flight() if processes.started(f.pid) == f.started]


def blocked(
    app: App, uuid: str, project: Project, runtime: Runtime, running: set[str],
    flying: list[InFlight],
) -> str:  # fmt: skip
    """Why a limit says not now ("" when the task may spawn). Callers hold the spawn lock
    while they decide and take the slot, so two spawns cannot both take the last one;
    `flying`: the other spawns under way, counted as running and as spawned."""
    running = running | {f.session for f in flying}
    mine = {f.session for f in flying if f.project == project.name}
    last = {"project": lambda n: max([app.state.last_spawn_in_project(n),
                                      *(f.ts for f in flying if f.project == n)]),
            "runtime": lambda n: max([app.state.last_spawn_of_runtime(n),
                                      *(f.ts for f in flying if f.runtime == n)])}  # fmt: skip
    limits = SpawnLimits(
        max_workers=app.cfg.limits.max_workers,
        project=project.name,
        project_max=project.max_workers,
        project_spacing=project.spawn_spacing,
        runtime=runtime.name,
        runtime_spacing=runtime.spawn_spacing,
    )
    queued = [t for t, p, _ in queue(app) if p == project.name]
    workers = lambda: _project_workers(app, project, running, mine)  # noqa: E731
    return spawn_blocked(uuid, limits, queued, running, workers,
                         lambda scope, name: last[scope](name), time.time())  # fmt: skip


def hold(app: App, uuid: str, project: str, reason: str) -> NoReturn:
    """Queue the task (or update why it waits) and stop the step here."""
    position = _enqueue(app, uuid, project, reason)
    raise Waiting(f"queued (position {position}): {reason}; `ttal watch` starts it")


def _project_workers(app: App, project: Project, running: set[str], flying: set[str]) -> int:
    """The project's workers running, and its spawns under way (`flying`: their sessions,
    perhaps not yet on their tasks)."""
    tasks = app.tw.export("status:pending", f"project:{project.name}", "ttal_session.any:")
    return len({t.get("ttal_session") for t in tasks} & running | flying)


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
