"""Stages assigned to a role: given to an idle agent of that role, or queued in order.

The original ttal failed with "all agents busy"; here the task waits in a queue and is
assigned when an agent of the role reports idle (or on the next `ttal deliver` pass:
engine/queues.route_queued).
"""

from __future__ import annotations

import time

from ttal.adapters import locks
from ttal.core.pipeline import Stage
from ttal.core.plans import plan_assign
from ttal.core.task_view import TaskView
from ttal.engine import apply
from ttal.engine.agents import agent_state
from ttal.engine.app import App
from ttal.errors import Waiting


def idle_agents(app: App, role: str) -> list[str]:
    sessions, activity, now = set(app.tmux.sessions()), app.tmux.activity(), time.time()
    names = [a.name for a in app.cfg.agents.values() if a.role == role]
    return [n for n in names if agent_state(app, n, sessions, activity, now)[0] == "idle"]


def assign(app: App, task: TaskView, stage: Stage) -> str:
    # One assignment per role at a time, or two tasks could both take the same idle agent.
    with locks.held(app.lock_dir / f"role-{stage.role}.lock"):
        return _assign(app, task, stage)


def _assign(app: App, task: TaskView, stage: Stage) -> str:
    queue = [q[0] for q in app.state.assignments() if q[2] == stage.role]
    # Order is kept: a task takes an idle agent only if no task queued before it still waits.
    first_in_line = not queue or queue[0] == task.uuid
    idle = idle_agents(app, stage.role) if first_in_line else []
    if not idle:
        position = app.state.enqueue_assignment(task.uuid, stage.name, stage.role)
        app.state.event("queued", task.uuid, app.caller.name, f"{stage.name} for {stage.role}")
        raise Waiting(f"every {stage.role} is busy; queued (position {position})")
    return apply.assign(app, plan_assign(task, stage, idle[0], app.caller.name), stage.role)
