"""`ttal diary` and `ttal breathe`: an agent's memory across fresh contexts.

The diary is a few lines an agent (or a person) writes for its later self. `ttal breathe`
writes a handoff into it, restarts the agent with a fresh context (no resume), and gives the
new session its briefing (`ttal context`, which shows the diary's tail), so nothing the
agent knew is lost.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from ttal.adapters import poll, proc
from ttal.commands.agents import AgentAction
from ttal.engine.app import App
from ttal.errors import Forbidden, PreconditionFailed, UsageError

BREATHING = "breathe"  # agent_status.source while a breath holds deliveries and reports
TURN_WAIT = 10.0  # seconds a breath from inside waits for its turn to end


@dataclass(frozen=True)
class Written:
    agent: str
    written: str

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "written": self.written}


@dataclass(frozen=True)
class Entry:
    when: str  # month-day hour:minute, local time
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"when": self.when, "text": self.text}


@dataclass(frozen=True)
class Diary:
    agent: str
    entries: list[Entry]  # oldest first

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "entries": [e.as_dict() for e in self.entries]}


def _agent(app: App, agent: str) -> str:
    name = agent or ("" if app.caller.is_person else app.caller.name)
    if not name:
        raise UsageError("whose diary? run inside an agent's session, or name the agent")
    return name


def append(app: App, text: str, agent: str = "") -> Written:
    name = _agent(app, agent)
    if not text.strip():
        raise PreconditionFailed("the diary entry is empty; nothing was written")
    if not app.caller.is_person and name != app.caller.name:
        raise Forbidden(f"{app.caller.name} may write only its own diary, not {name}'s")
    app.state.add_diary_entry(name, text.strip())
    return Written(name, text.strip())


def read(app: App, agent: str = "", tail: int = 20) -> Diary:
    name = _agent(app, agent)
    entries = [Entry(time.strftime("%m-%d %H:%M", time.localtime(e.ts)), e.text)
               for e in app.state.diary_tail(name, tail)]  # fmt: skip
    return Diary(name, entries)


def breathe(app: App, agent: str, note: str) -> AgentAction:
    """Handoff, fresh restart, briefing. From inside the agent, the restart runs in a process
    of its own: killing the session would end this very command."""
    from ttal.engine.agents import persistent_agents, up

    [target] = persistent_agents(app, [_agent(app, agent)])
    if not app.caller.is_person and app.caller.name != target.name:
        raise Forbidden(f"{app.caller.name} may breathe only itself, not {target.name}")
    handoff = note.strip() or "breathed: restarted with a fresh context"
    inner = os.environ.get("TTAL_BREATHING", "")
    in_turn = False
    if not inner:
        append(app, handoff, target.name)
        status = app.state.status(target.name)
        in_turn = status is not None and status.state == "busy" and status.source == "runtime"
        # From here until the new session starts, messages wait in the queue: one typed into
        # the old conversation now would be read by an agent about to forget it (its Stop
        # hook, at the end of this very turn, would otherwise report idle and let them in).
        app.state.set_status(target.name, "starting", BREATHING)
    if app.caller.name == target.name and not inner:
        _restart_detached(app, target.name, "after-turn" if in_turn else "now")
        return AgentAction(target.name, "restarting in the background")
    if inner == "after-turn":
        _await_turn_end(app, target.name)
    # The id goes first: a `ttal watch` or `ttal up` that sees the session gone in between
    # must start a fresh conversation too, not resume this one.
    (app.run_dir / f"{target.name}.session-id").unlink(missing_ok=True)
    app.tmux.kill(target.name)
    app.state.event("breathe", "", app.caller.name, target.name)
    results = up(app, [target.name])
    return AgentAction(target.name, results[0]["action"] if results else "started")


def _await_turn_end(app: App, name: str) -> None:
    """Let the turn that ran `ttal breathe` end before the kill. Its Stop hook, started just
    before a kill, reported idle half a second after the new session had started (under
    load, in 2 of 8 runs), and let queued messages into a Claude that was still starting."""

    def turn_ended() -> bool:
        if not app.tmux.has(name):
            return True
        status = app.state.status(name)
        # Its report came (agents.report marks it) or someone else took over.
        return status is None or status.source != BREATHING

    poll.until(turn_ended, TURN_WAIT, interval=0.1)


def _restart_detached(app: App, name: str, when: str) -> None:
    proc.start_detached(
        [sys.executable, "-m", "ttal", "breathe", name],
        log=app.run_dir / f"breathe-{name}.log",  # a failed restart says why
        cwd=app.cfg.state_dir,
        env={**os.environ, "TTAL_BREATHING": when},
    )
