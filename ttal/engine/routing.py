"""Stages assigned to a role: given to an idle agent of that role, or queued in order.

The original ttal failed with "all agents busy"; here the task waits in a queue and is
assigned when an agent of the role reports idle (or on the next `ttal deliver` pass:
engine/queues.route_queued).
"""

from __future__ import annotations

import time
from typing import Any

from ttal.adapters import locks
from ttal.core.pipeline import Stage
from ttal.engine import mesh
from ttal.engine.agents import agent_state
from ttal.engine.app import App
from ttal.errors import Waiting


def idle_agents(app: App, role: str) -> list[str]:
    sessions, activity, now = set(app.tmux.sessions()), app.tmux.activity(), time.time()
    names = [a.name for a in app.cfg.agents.values() if a.role == role]
    return [n for n in names if agent_state(app, n, sessions, activity, now)[0] == "idle"]


def assign(app: App, task: dict[str, Any], stage: Stage) -> str:
    # One assignment per role at a time, or two tasks could both take the same idle agent.
    with locks.held(app.lock_dir / f"role-{stage.role}.lock"):
        return _assign(app, task, stage)


def _assign(app: App, task: dict[str, Any], stage: Stage) -> str:
    uuid = task["uuid"]
    queue = [q[0] for q in app.state.assignments() if q[2] == stage.role]
    # Order is kept: a task takes an idle agent only if no task queued before it still waits.
    first_in_line = not queue or queue[0] == uuid
    idle = idle_agents(app, stage.role) if first_in_line else []
    if not idle:
        position = app.state.enqueue_assignment(uuid, stage.name, stage.role)
        app.state.event("queued", uuid, app.caller.name, f"{stage.name} for {stage.role}")
        raise Waiting(f"every {stage.role} is busy; queued (position {position})")
    owner = idle[0]
    facts = {"ttal_owner": owner, "ttal_owner_stage": stage.name}
    if not task.get("ttal_spawner"):
        facts["ttal_spawner"] = app.caller.name
    app.tw.set(uuid, **facts)
    app.state.dequeue_assignment(uuid, stage.name)
    text = _brief(task, stage)
    mesh.tell(app, owner, text, key=f"assign:{uuid}:{stage.name}", task=uuid, sender="ttal")
    app.state.set_status(owner, "busy", "assigned")  # until its runtime says otherwise
    app.state.event("assigned", uuid, app.caller.name, f"{stage.name} to {owner}")
    return f"assigned stage {stage.name} to {owner} ({stage.role})"


def _brief(task: dict[str, Any], stage: Stage) -> str:
    notes = "; ".join(a.get("description", "") for a in task.get("annotations") or [])
    return (
        f"Task {task['uuid'][:8]} ({task.get('project', '')}): {task.get('description', '')}\n"
        f"Stage {stage.name} is yours." + (f" Notes: {notes}" if notes else "") + "\n"
        f'When done: ttal go {task["uuid"]} --note "<your result>"'
    )
