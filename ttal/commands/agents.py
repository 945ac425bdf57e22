"""Persistent agents: `ttal up`, `ttal down`, `ttal agents`, and `ttal report` (the runtime's
idle/busy signal), plus the delivery loop `ttal deliver`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ttal.adapters import poll
from ttal.config.model import Agent
from ttal.core.durations import ago
from ttal.engine import mesh, routing, spawn_queue
from ttal.engine.app import App
from ttal.engine.sessions import SessionPlan, recorded_session_id, start_session
from ttal.errors import NotFound, PreconditionFailed, TtalError, UsageError

READY_TIMEOUT = 15.0
REPORTED = ("idle", "busy", "waiting")
BREATHE_HOLD = mesh.STARTING_LIMIT  # seconds a breathe holds reports and deliveries at most


def _persistent(app: App, names: list[str]) -> list[Agent]:
    if not names:
        return [a for a in app.cfg.agents.values() if a.persistent]
    agents = [app.cfg.agent(n) for n in names]
    for agent in agents:
        if not agent.persistent:
            raise UsageError(
                f"{agent.name} is a {agent.role}: ttal starts those per task (`ttal go`)",
                hint="`ttal up` starts managers and other persistent agents",
            )
    return agents


def briefing(app: App, agent: Agent) -> str:
    """What a (re)started persistent agent is told first: its role prompt and its diary's
    tail (runtimes with a SessionStart hook get the full `ttal context` as well)."""
    from ttal.commands.diary import diary_tail

    tail = diary_tail(app, agent.name)
    if not tail:
        return manager_prompt(agent)
    notes = "\n".join(f"- {entry}" for entry in tail)
    return f"{manager_prompt(agent)}\n\nYour diary (newest last):\n{notes}"


def manager_prompt(agent: Agent) -> str:
    if agent.prompt:
        try:
            return agent.prompt.read_text(encoding="utf-8")
        except OSError as err:
            raise NotFound(
                f"agents.{agent.name}.prompt: cannot read {agent.prompt}: {err}"
            ) from None
    return (
        f"You are {agent.name}, a ttal {agent.role}. You take requirements, create Taskwarrior "
        "tasks (`task add ... project:<name>`), start them with `ttal go <id>`, and follow them "
        "with `ttal status`. Messages from other agents and people arrive here as "
        '"[ttal #N from NAME]"; answer with `ttal send --to NAME "..."`.'
    )


def up(app: App, names: list[str]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    started = []
    for agent in _persistent(app, names):
        if app.tmux.has(agent.name):
            results.append({"agent": agent.name, "action": "already up"})
            continue
        workdir = session_workdir(app, agent)
        workdir.mkdir(parents=True, exist_ok=True)
        # A new process: until it reports (or its screen settles), deliveries queue. A TUI
        # that switches its terminal to raw mode may flush what was typed before it did.
        app.state.set_status(agent.name, "starting", "ttal")
        plan = SessionPlan(agent.name, agent.role, agent.runtime, workdir, briefing(app, agent),
                           meta={"description": "", "role": agent.role})  # fmt: skip
        start_session(app, plan)
        app.state.event("up", "", app.caller.name, agent.name)
        results.append({"agent": agent.name, "action": "started"})
        started.append(agent.name)
    for name in started:
        _wait_ready(app, name)
        status = app.state.status(name)
        if status is not None and status.state == "starting":
            app.state.clear_status(name)  # ready by its screen: no signal from this runtime
    for result in results:
        name = result["agent"]
        if not app.tmux.has(name):
            code = _exit_code(app, name)
            result["action"] = f"exited at start (status {code}); see {app.run_dir / name}.log"
            result["failed"] = True
        result["delivered"] = mesh.deliver(app, name)
    return results


def fork(app: App, source: str, new: str) -> dict[str, Any]:
    """`new` starts as a copy of `source`'s conversation (Claude Code: --resume <id>
    --fork-session) in a session of its own; `source` goes on as it was."""
    src, dst = _persistent(app, [source, new])
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
    _wait_ready(app, dst.name)
    status = app.state.status(dst.name)
    if status is not None and status.state == "starting":
        app.state.clear_status(dst.name)
    return {"agent": dst.name, "from": src.name, "session_id": session_id,
            "delivered": mesh.deliver(app, dst.name)}  # fmt: skip


def _exit_code(app: App, name: str) -> str:
    try:
        return (app.run_dir / f"{name}.exit").read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"


def _wait_ready(app: App, name: str) -> None:
    """Typing before the program reads its terminal can be lost: wait for its first idle
    signal, or for its screen to settle when the runtime sends none."""
    last, stable_since = "", time.monotonic()

    def ready() -> bool:
        nonlocal last, stable_since
        if not app.tmux.has(name):
            return True  # gone: nothing to wait for
        status = app.state.status(name)
        # Busy counts too: the program has read its first prompt, and deliveries to a busy
        # agent queue anyway (a Claude manager's first turn held `up` for 15 s otherwise).
        if status is not None and status.state in REPORTED:
            return True
        reported = status is not None and status.state != "starting"
        screen = app.tmux.capture(name, lines=50)
        if screen != last:
            last, stable_since = screen, time.monotonic()
            return False
        return bool(screen.strip()) and time.monotonic() - stable_since > 1.0 and not reported

    poll.until(ready, READY_TIMEOUT, interval=0.1)


def down(app: App, names: list[str]) -> list[dict[str, Any]]:
    results = []
    for agent in _persistent(app, names):
        killed = app.tmux.kill(agent.name)
        app.state.clear_status(agent.name)
        # Recorded even when it was already gone (it died): `ttal watch` restarts an agent
        # that is up by intent, and must learn that a person wants this one down.
        app.state.event("down", "", app.caller.name, agent.name)
        results.append({"agent": agent.name, "action": "stopped" if killed else "already down"})
    return results


def report(app: App, state: str, agent: str = "") -> dict[str, Any]:
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
        return {"agent": name, "state": state, "delivered": 0, "routed": [], "held": "breathe"}
    app.state.set_status(name, state, "runtime")
    delivered = mesh.deliver(app, name) if state == "idle" else 0
    routed = routing.route_queued(app) if state == "idle" and app.state.assignments() else []
    return {"agent": name, "state": state, "delivered": delivered, "routed": routed}


def _breathing(app: App, name: str) -> bool:
    status = app.state.status(name)
    return (status is not None and status.source.startswith("breathe")
            and time.time() - status.since < BREATHE_HOLD)  # fmt: skip


def agents(app: App) -> list[dict[str, Any]]:
    now = time.time()
    sessions = set(app.tmux.sessions())
    activity = app.tmux.activity()
    unread = app.state.unread_counts()
    owned = _owned_tasks(app)
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


def agent_state(
    app: App, name: str, sessions: set[str], activity: dict[str, float], now: float
) -> tuple[str, float]:
    """offline, idle, busy, waiting (for a person's answer in a dialog) or stuck; and since
    when. The runtime's own signal wins; pane activity is only the fallback (screen-scraping
    status is this field's commonest bug)."""
    status = app.state.status(name)
    if name not in sessions:
        return "offline", status.seen if status else 0.0
    last_output = activity.get(name, 0.0)
    if status is None:
        quiet = now - last_output
        return ("busy", last_output) if quiet < 5 else ("idle", last_output)
    if status.state == "busy" and now - max(last_output, status.seen) > app.cfg.limits.stuck_after:
        return "stuck", max(last_output, status.seen)
    return status.state, status.since


def _row(
    name: str, role: str, state: str, since: float, now: float, task: str, unread: int
) -> dict[str, Any]:
    return {
        "agent": name,
        "role": role,
        "state": state,
        "for": ago(now - since) if since else "",
        "seconds": round(now - since, 1) if since else None,
        "task": task,
        "unread": unread,
    }


def _owned_tasks(app: App) -> dict[str, str]:
    owned: dict[str, str] = {}
    for task in app.tw.export("status:pending", "ttal_owner.any:"):
        owned.setdefault(str(task["ttal_owner"]), task["uuid"][:8])
    return owned


def deliver_all(app: App) -> dict[str, int]:
    counts = {name: mesh.deliver(app, name) for name in app.state.recipients_with_queue()}
    if app.state.assignments():
        routing.route_queued(app)
    if spawn_queue.queue(app):
        spawn_queue.start_queued(app)
    return counts


def deliver_loop(app: App, interval: float, say: Any) -> None:
    # Not a wait on a condition (poll.until): a daemon's pass every `interval` until ^C.
    while True:
        for name, count in deliver_all(app).items():
            if count:
                say(f"delivered {count} to {name}")
        time.sleep(interval)


def session_workdir(app: App, agent: Agent) -> Path:
    return agent.workdir or app.cfg.state_dir / "agents" / agent.name


def run_report(state: str, agent: str) -> dict[str, Any]:
    return report(App.load(), state, agent)
