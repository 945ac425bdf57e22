"""`ttal` inside a read-only sandbox (a Codex review lead, TTAL_SANDBOX=read-only).

Nothing ttal does there could be written: Taskwarrior takes a lock file even to read, the
state database is SQLite in WAL mode, and an approval merges. So its commands run on the
warm server (ttal/warm/client.py), outside the sandbox; ttal starts one before it launches such a
session. If none answers (it left after its idle time, or because ttal's code changed), one
is started through ttal's tmux server, which runs outside the sandbox too, and the command
is handed over again. Failing that, one clear message instead of a crash on a read-only
file.
"""

from __future__ import annotations

import os
import shlex
import sys

from ttal.adapters import poll, proc, relay
from ttal.adapters.tmux import literal
from ttal.errors import Exit, ExternalError
from ttal.warm import client

START_WAIT = 15.0  # seconds for a server started through tmux to answer


def run_served(args: list[str]) -> int:
    """Hand `args` to the warm server, starting one from outside if none answers."""
    if _start_outside():
        served = client.run(args)
        if served is not None:
            return served
    sys.stderr.write(
        f"ttal: this session's filesystem is read-only (a Codex review lead's sandbox), so "
        f"`ttal {shlex.join(args[:2])}` runs on ttal's server, and none answered on "
        f"{relay.socket_path()}; nothing was done\n"
        "  hint: tell the person running ttal; `ttal server start` outside the sandbox "
        "starts one, then run the command again\n"
    )
    return int(Exit.EXTERNAL)


def _start_outside() -> bool:
    """Ask ttal's tmux server (the one this pane belongs to) to start the warm server."""
    if relay.control("status") is not None:
        return True
    socket = os.environ.get("TMUX", "").split(",")[0]
    if not socket:
        return False
    keep = ("TTAL_RUNTIME_DIR", "XDG_RUNTIME_DIR", "PYTHONPATH", "TTAL_SERVER_IDLE")
    assignments = [f"{k}={os.environ[k]}" for k in keep if k in os.environ]
    line = shlex.join(["env", "TTAL_SERVER=on", *assignments,
                       sys.executable, "-m", "ttal", "server", "start"])  # fmt: skip
    target = ["-t", os.environ["TMUX_PANE"]] if os.environ.get("TMUX_PANE") else []
    try:  # run-shell expands its command as a format: a `#` in a path must stay a `#`
        proc.run(["tmux", "-S", socket, "run-shell", "-b", *target, literal(line)], timeout=10)
    except (OSError, ExternalError):  # no tmux, or it hung
        return False
    return poll.until(lambda: relay.control("status") is not None, START_WAIT, interval=0.1)
