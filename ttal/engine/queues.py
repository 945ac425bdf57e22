"""Work that waits in a queue, started when it may go: queued messages, role stages waiting
for an idle agent, and spawns held back by limits. Each queued task is advanced with
`ttal go` (drive.go), which re-checks everything under the task's lock."""

from __future__ import annotations

from typing import Any

from ttal.engine import drive, mesh, routing, spawn_queue
from ttal.engine.app import App
from ttal.errors import TtalError


def route_queued(app: App) -> list[str]:
    """Assign queued role stages, oldest first, while agents of their roles are idle."""
    did = []
    for uuid, _stage, role in app.state.assignments():
        if not routing.idle_agents(app, role):
            continue
        try:
            outcome = drive.go(app, uuid)
        except TtalError as err:
            app.state.event("route-failed", uuid, app.caller.name, err.message)
            continue
        did += outcome.did
    return did


def start_queued(app: App) -> list[dict[str, Any]]:
    """Try every queued spawn, oldest first; each re-checks the limits."""
    started = []
    for uuid, _project, _reason in spawn_queue.queue(app):
        try:
            outcome = drive.go(app, uuid)
        except TtalError as err:
            app.state.event("spawn-retry-failed", uuid, app.caller.name, err.message)
            continue
        if outcome.did:
            started.append({"task": uuid, "did": outcome.did})
        task = app.tw.get(uuid)
        if task.get("status") != "pending" or task.get("ttal_session"):
            spawn_queue.forget(app, uuid)
    return started


def deliver_all(app: App) -> dict[str, int]:
    """One delivery pass (`ttal deliver`, and each `ttal watch` pass): queued messages, then
    queued role stages, then queued spawns."""
    counts = {name: mesh.deliver(app, name) for name in app.state.recipients_with_queue()}
    if app.state.assignments():
        route_queued(app)
    if spawn_queue.queue(app):
        start_queued(app)
    drive_merges(app)
    return counts


def drive_merges(app: App) -> list[str]:
    """The merge queue: finish the tasks it merged, and start a driver for each queue
    nobody drives (engine/merge_queue.start_drivers)."""
    from ttal.engine import merge_queue

    did = []
    for uuid in merge_queue.merged_unfinished(app):
        try:
            did += drive.go(app, uuid).did
        except TtalError as err:
            app.state.event("merge-finish-failed", uuid, app.caller.name, err.message)
            continue
        if app.tw.get(uuid).get("status") != "pending":
            merge_queue.forget(app, uuid)
    return did + merge_queue.start_drivers(app)
