"""May a worker start now? Limits on how many run at once (globally and per project) and on
how far apart two spawns must be (per project and per runtime), so a fleet does not collide
or hit a provider's rate limit all at once. The engine queues what may not start yet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SpawnLimits:
    max_workers: int  # limits.max_workers: across every project
    project: str
    project_max: int  # the project's max_workers (0: no limit of its own)
    project_spacing: float  # seconds between two spawns in the project
    runtime: str
    runtime_spacing: float  # seconds between two spawns on the runtime


def spawn_blocked(
    uuid: str,
    limits: SpawnLimits,
    queued: list[str],
    running: set[str],
    project_workers: Callable[[], int],
    last_spawn: Callable[[str, str], float],
    now: float,
) -> str:
    """Why the task may not spawn now, or "" when it may. `queued`: the project's queued
    tasks, oldest first. The callables are asked only when their limit applies: counting
    a project's workers reads Taskwarrior."""
    if queued and queued[0] != uuid:  # order is kept within a project
        return f"{len(queued)} earlier task(s) of {limits.project} are waiting"
    workers = [s for s in running if s.startswith("w-") and s != f"w-{uuid[:8]}"]
    if len(workers) >= limits.max_workers:
        return f"{len(workers)} workers running (limits.max_workers)"
    if limits.project_max and project_workers() >= limits.project_max:
        return f"{limits.project_max} workers running in {limits.project} (its max_workers)"
    for scope, name, spacing in (
        ("project", limits.project, limits.project_spacing),
        ("runtime", limits.runtime, limits.runtime_spacing),
    ):
        wait = spacing - (now - last_spawn(scope, name))
        if spacing and wait > 0:
            return f"spawn spacing of {scope} {name}: next in {wait:.1f}s"
    return ""
