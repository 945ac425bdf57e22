"""Persistent agents (managers and other roles started with `ttal up`): which ones a command
means, what state each is in, and starting them with their briefing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ttal.adapters import poll
from ttal.config.model import Agent
from ttal.engine import mesh
from ttal.engine.app import App
from ttal.engine.sessions import SessionPlan, start_session
from ttal.errors import NotFound, UsageError

READY_TIMEOUT = 15.0
REPORTED = ("idle", "busy", "waiting")
DIARY_TAIL = 5  # diary entries a (re)started agent is shown


def persistent_agents(app: App, names: list[str]) -> list[Agent]:
    """The named agents (every persistent one when none is named); a worker or reviewer is
    refused: those are started per task."""
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


def diary_tail(app: App, agent: str, tail: int = DIARY_TAIL) -> list[str]:
    """The agent's last diary entries, oldest first."""
    return [entry.text for entry in app.state.diary_tail(agent, tail)]


def briefing(app: App, agent: Agent) -> str:
    """What a (re)started persistent agent is told first: its role prompt and its diary's
    tail (runtimes with a SessionStart hook get the full `ttal context` as well)."""
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


def session_workdir(app: App, agent: Agent) -> Path:
    return agent.workdir or app.cfg.state_dir / "agents" / agent.name


def up(app: App, names: list[str]) -> list[dict[str, Any]]:
    """Start the persistent agents not running yet, wait until each is ready, and deliver
    what was queued for them."""
    results: list[dict[str, Any]] = []
    started = []
    for agent in persistent_agents(app, names):
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
        settle(app, name)
    for result in results:
        name = result["agent"]
        if not app.tmux.has(name):
            code = exit_code(app, name)
            result["action"] = f"exited at start (status {code}); see {app.run_dir / name}.log"
            result["failed"] = True
        result["delivered"] = mesh.deliver(app, name)
    return results


def settle(app: App, name: str) -> None:
    """Wait until a just-started agent is ready; one ready by its screen alone (its runtime
    sends no signal) is no longer `starting`."""
    wait_ready(app, name)
    status = app.state.status(name)
    if status is not None and status.state == "starting":
        app.state.clear_status(name)


def exit_code(app: App, name: str) -> str:
    try:
        return (app.run_dir / f"{name}.exit").read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"


def wait_ready(app: App, name: str) -> None:
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
