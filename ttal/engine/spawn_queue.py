"""The spawn queue: a worker that limits hold back (core/spawn_limits.py decides) waits
here, in order; `ttal watch` (or `ttal deliver`) starts it when it may go
(engine/queues.start_queued).

Spawns run in parallel: the spawn lock covers only the decision (count, check the limits,
take a slot), not the spawn. A slot taken is a row in `spawning` until the spawn ends, and
counts as a running worker (and as a spawn, for spacing) meanwhile. So the limits stay
exact, no two spawns take the last slot, and one spawn's worktree and session no longer
wait for another's (issue 14: 50 `ttal go` at once waited a median of 10.3 s).

A spawner killed mid-spawn (kill -9, a crash) never frees its slot: whoever looks next (a
spawn's count, a watch pass, `ttal recover`) frees it, with a `spawn-slot-freed` event, once
two witnesses say the spawner is gone (_look)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from ttal.adapters import locks, processes
from ttal.adapters.store.queues import InFlight, QueuedSpawn
from ttal.config.model import Project, Runtime
from ttal.core.plans import worker_session_name
from ttal.core.spawn_limits import SpawnLimits, spawn_blocked
from ttal.engine.app import App
from ttal.errors import Waiting

WORKER_RE = re.compile(r"^w-([0-9a-f]{8})$")  # core.plans.worker_session_name


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
        flying = [f for f in in_flight(app, holding=uuid) if f.task != uuid]
        if session not in running:
            if reason := blocked(app, uuid, project, runtime, running, flying):
                hold(app, uuid, project.name, reason)
            app.state.reserve_spawn(me)
    try:
        yield running
    finally:
        app.state.release_spawn(uuid, me.pid)


def in_flight(app: App, holding: str = "") -> list[InFlight]:
    """The slots of the spawns under way; the slots of dead spawners are freed on the way.
    `holding`: a task whose lock the caller holds."""
    return [f for f in app.state.spawns_in_flight() if _look(app, f, holding) == "live"]


def free_dead(app: App) -> list[InFlight]:
    """Free every slot whose spawner is gone (`ttal recover`, each watch pass); returns the
    ones this call freed."""
    return [f for f in app.state.spawns_in_flight() if _look(app, f, "") == "freed"]


def _look(app: App, flight: InFlight, holding: str) -> str:
    """What a slot's row is: `live` while its spawner may be under way, else `freed` (by
    this call) or `gone` (released or freed meanwhile). Dead takes two witnesses, so no
    spawn under way is freed: its process is gone (its pid with its start time: a pid
    alone is reused), and its task's lock is free. Every spawn holds that lock throughout
    (workers.spawn_worker's callers) and the kernel lets go of it when the holder dies,
    whatever pid namespace the holder ran in (there, its pid is not ours)."""
    if processes.started(flight.pid) == flight.started:
        return "live"
    if flight.task == holding:  # the caller holds its lock: nobody else is spawning it
        return _free(app, flight)
    with locks.borrowed(locks.task_lock(app.lock_dir, flight.task), 0) as free:
        return _free(app, flight) if free else "live"


def _free(app: App, flight: InFlight) -> str:
    if not app.state.free_spawn(flight):
        return "gone"
    app.state.event("spawn-slot-freed", flight.task, app.caller.name,
                    f"{flight.session}: its spawner (pid {flight.pid}) died mid-spawn")  # fmt: skip
    return "freed"


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
    perhaps not yet on their tasks). A worker's session is named after its task, which may
    not name the session yet: a spawner killed after starting it never wrote it there (and
    its slot is freed), so the running sessions' tasks are looked up by their names."""
    shorts = sorted({m[1] for s in running - flying if (m := WORKER_RE.match(s))})
    if not shorts:  # an export without them would read every pending task of the project
        return len(flying)
    tasks = app.tw.export("status:pending", f"project:{project.name}", *shorts)
    return len({worker_session_name(t["uuid"]) for t in tasks} & running | flying)


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
