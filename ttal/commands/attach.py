"""`ttal attach NAME`: look into a session on ttal's private tmux server."""

from __future__ import annotations

import os
import sys

from ttal.engine.app import App
from ttal.errors import NotFound, PreconditionFailed


def attach(app: App, name: str) -> None:
    sessions = app.tmux.sessions()
    if name not in sessions:
        matches = [s for s in sessions if name in s]
        if len(matches) != 1:
            known = ", ".join(sessions) or "none running"
            raise NotFound(f"no session {name!r} on ttal's tmux server", hint=f"sessions: {known}")
        name = matches[0]
    if not sys.stdin.isatty():
        raise PreconditionFailed(
            "attach needs a terminal",
            hint=f"tmux -L {app.cfg.tmux_socket} capture-pane -p -t ={name}: shows the screen",
        )
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    argv = ["tmux", "-L", app.cfg.tmux_socket, "attach-session", "-t", f"={name}"]
    os.execvpe("tmux", argv, env)
