"""`ttal attach NAME`: look into a session on ttal's private tmux server, in a terminal, or
`--screen` to print what its agent shows (for scripts, agents and logs: no terminal needed)."""

from __future__ import annotations

import os
import sys

from ttal.adapters.tmux import Screen
from ttal.engine.app import App
from ttal.errors import NotFound, PreconditionFailed


def attach(app: App, name: str) -> None:
    name = session_named(app, name)
    if not sys.stdin.isatty():
        raise PreconditionFailed(
            "attach needs a terminal",
            hint=f"`ttal attach {name} --screen` prints what its agent shows",
        )
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    argv = ["tmux", "-L", app.cfg.tmux_socket, "attach-session", "-t", f"={name}"]
    os.execvpe("tmux", argv, env)


def screen(app: App, name: str, lines: int = 50) -> Screen:
    """The agent pane's last lines and what runs there."""
    name = session_named(app, name)
    found = app.tmux.screen(name, lines)
    if found is None:
        raise NotFound(f"session {name!r} ended before its screen could be read")
    return found


def session_named(app: App, name: str) -> str:
    """The session called `name`, or the one session whose name contains it."""
    sessions = app.tmux.sessions()
    if name in sessions:
        return name
    matches = [s for s in sessions if name in s]
    if len(matches) != 1:
        known = ", ".join(sessions) or "none running"
        raise NotFound(f"no session {name!r} on ttal's tmux server", hint=f"sessions: {known}")
    return matches[0]
