"""Persistent agents: `ttal up`, `ttal down`, `ttal agents`, and `ttal report` (the runtime's
idle/busy signal), plus the delivery loop `ttal deliver`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ttal.adapters.task_query import ttal_pending
from ttal.core.durations import ago
from ttal.engine import mesh
from ttal.engine.agents import (
    REPORTED,
    agent_state,
    manager_prompt,
    persistent_agents,
    session_workdir,
    settle,
)
from ttal.engine.agents import up as start_agents
from ttal.engine.app import App
from ttal.engine.sessions import SessionPlan, recorded_session_id, start_session
from ttal.errors import PreconditionFailed, TtalError, UsageError

BREATHE_HOLD = mesh.STARTING_LIMIT  # seconds a breathe holds reports and deliveries at most


@dataclass(frozen=True)
class AgentAction:
    """What happened to one agent: `ttal down`, `ttal breathe`."""

    agent: str
    action: str  # stopped, already down, started, restarting in the background...

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "action": self.action}


@dataclass(frozen=True)
class Started:
    """An agent `ttal up` started (or found up), and the queued messages it then got."""

    agent: str
    action: str  # started, already up, or why it exited at start
    delivered: int
    failed: bool = False  # it exited at start

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"agent": self.agent, "action": self.action}
        return data | ({"failed": True} if self.failed else {}) | {"delivered": self.delivered}


@dataclass(frozen=True)
class Forked:
    agent: str
    source: str
    session_id: str  # the runtime's conversation it was copied from
    delivered: int

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "from": self.source, "session_id": self.session_id,
                "delivered": self.delivered}  # fmt: skip


@dataclass(frozen=True)
class Reported:
    agent: str
    state: str
    delivered: int  # queued messages typed in now that it is idle
    routed: list[str]  # queued role stages handed out
    held: str = ""  # "breathe": a breath holds it; nothing was changed

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"agent": self.agent, "state": self.state,
                                "delivered": self.delivered, "routed": self.routed}  # fmt: skip
        return data | {"held": self.held} if self.held else data


@dataclass(frozen=True)
class AgentRow:
    agent: str
    role: str
    state: str  # idle, busy, waiting, stuck or offline
    since: str  # for how long, for people (42s, 17m)
    seconds: float | None
    task: str
    unread: int

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "role": self.role, "state": self.state, "for": self.since,
                "seconds": self.seconds, "task": self.task, "unread": self.unread}  # fmt: skip


def up(app: App, names: list[str]) -> list[Started]:
    return [Started(r["agent"], r["action"], r["delivered"], bool(r.get("failed")))
            for r in start_agents(app, names)]  # fmt: skip


def fork(app: App, source: str, new: str) -> Forked:
    """`new` starts as a copy of `source`'s conversation (Claude Code: --resume <id>
    --fork-session) in a session of its own; `source` goes on as it was."""
    src, dst = persistent_agents(app, [source, new])
    if src.name == dst.name:
        raise UsageError("an agent cannot fork into itself", hint="ttal fork AGENT --as OTHER")
    if app.tmux.has(dst.name):
        raise PreconditionFailed(
            f"{dst.name} is already up; nothing was changed",
            hint=f"`ttal down {dst.name}` first, or fork into another agent",
        )
    from_id = recorded_session_id(app, src.name)
    if not from_id:
        raise PreconditionFailed(
            f"{src.name} has no session to fork; nothing was started",
            hint=f"`ttal up {src.name}` and let it take a turn first",
        )
    workdir = session_workdir(app, dst)
    workdir.mkdir(parents=True, exist_ok=True)
    note = f"[ttal] You are {dst.name} now: this conversation was forked from {src.name}'s, "
    plan = SessionPlan(dst.name, dst.role, dst.runtime, workdir,
                       note + "which goes on separately.\n\n" + manager_prompt(dst),
                       meta={"description": "", "role": dst.role}, fork_from=from_id)  # fmt: skip
    app.state.set_status(dst.name, "starting", "ttal")
    try:
        session_id = start_session(app, plan)
    except TtalError:
        app.state.clear_status(dst.name)
        raise
    app.state.event("forked", "", app.caller.name, f"{src.name} {from_id} -> {dst.name}")
    app.state.event("up", "", app.caller.name, dst.name)  # `ttal watch` keeps it up, as `up` would
    settle(app, dst.name)
    return Forked(dst.name, src.name, session_id, mesh.deliver(app, dst.name))


def down(app: App, names: list[str]) -> list[AgentAction]:
    results = []
    for agent in persistent_agents(app, names):
        killed = app.tmux.kill(agent.name)
        app.state.clear_status(agent.name)
        # Recorded even when it was already gone (it died): `ttal watch` restarts an agent
        # that is up by intent, and must learn that a person wants this one down.
        app.state.event("down", "", app.caller.name, agent.name)
        results.append(AgentAction(agent.name, "stopped" if killed else "already down"))
    return results


def report(app: App, state: str, agent: str = "") -> Reported:
    """The runtime's own signal. `waiting` (Claude Code's Notification hook: a permission or
    question dialog) holds deliveries like busy: a message typed into the dialog would
    answer it (pasted text and Enter approved a Bash command in Claude Code 2.1.328)."""
    if state not in REPORTED:
        raise UsageError(f"state must be {', '.join(REPORTED[:-1])} or waiting, not {state!r}")
    name = agent or (app.caller.name if not app.caller.is_person else "")
    if not name:
        raise UsageError("who? run inside an agent session, or pass --agent NAME")
    if _breathing(app, name):
        # The session `ttal breathe` is about to replace: its Stop hook must not make it
        # idle, or queued messages would be typed into a conversation about to end. Its
        # idle says the turn ended: the breath may kill it now (diary._await_turn_end).
        if state == "idle":
            app.state.set_status(name, "starting", "breathe:turn-ended")
        return Reported(name, state, 0, [], held="breathe")
    app.state.set_status(name, state, "runtime")
    delivered = mesh.deliver(app, name) if state == "idle" else 0
    routed = _route_queued(app) if state == "idle" and app.state.assignments() else []
    return Reported(name, state, delivered, routed)


def _route_queued(app: App) -> list[str]:
    from ttal.engine import queues  # `ttal report` is a hot path: the go loop only when needed

    return queues.route_queued(app)


def _breathing(app: App, name: str) -> bool:
    status = app.state.status(name)
    return (status is not None and status.source.startswith("breathe")
            and time.time() - status.since < BREATHE_HOLD)  # fmt: skip


def agents(app: App) -> list[AgentRow]:
    """Persistent agents, then workers and review leads: one `task` read (ttal's pending
    tasks, adapters/task_query.py) and one tmux call."""
    now = time.time()
    activity = app.tmux.activity()
    return agent_rows(app, ttal_pending(app.tw, set(app.cfg.projects)), activity, now)


def agent_rows(
    app: App, tasks: list[dict[str, Any]], activity: dict[str, float], now: float
) -> list[AgentRow]:
    """The rows of `ttal agents` from what the caller read: ttal's tasks and each tmux
    session's last output (its keys are the sessions that exist)."""
    sessions = set(activity)
    unread = app.state.unread_counts()
    owned = _owned_tasks(tasks)
    rows = []
    for agent in (a for a in app.cfg.agents.values() if a.persistent):
        state, since = agent_state(app, agent.name, sessions, activity, now)
        rows.append(_row(agent.name, agent.role, state, since, now, owned.get(agent.name, ""),
                         unread.get(agent.name, 0)))  # fmt: skip
    for name in sorted(s for s in sessions if s.startswith(("w-", "r-"))):
        state, since = agent_state(app, name, sessions, activity, now)
        role = "worker" if name.startswith("w-") else "reviewer"
        rows.append(_row(name, role, state, since, now, name[2:10], unread.get(name, 0)))
    return rows


def _row(
    name: str, role: str, state: str, since: float, now: float, task: str, unread: int
) -> AgentRow:
    return AgentRow(name, role, state, ago(now - since) if since else "",
                    round(now - since, 1) if since else None, task, unread)  # fmt: skip


def _owned_tasks(tasks: list[dict[str, Any]]) -> dict[str, str]:
    owned: dict[str, str] = {}
    for task in tasks:
        if task.get("status") == "pending" and task.get("ttal_owner"):
            owned.setdefault(str(task["ttal_owner"]), task["uuid"][:8])
    return owned


def deliver_all(app: App) -> dict[str, int]:
    from ttal.engine.queues import deliver_all as deliver_queued

    return deliver_queued(app)


def deliver_loop(app: App, interval: float, on_pass: Callable[[dict[str, int]], None]) -> None:
    """`deliver_all` every `interval` seconds until ^C; each pass's counts go to `on_pass`."""
    # Not a wait on a condition (poll.until): a daemon's pass every `interval` until ^C.
    while True:
        on_pass(deliver_all(app))
        time.sleep(interval)


def run_report(state: str, agent: str) -> Reported:
    return report(App.load(), state, agent)
