"""`ttal attach NAME --screen`: what an agent's pane shows, read with libtmux, for whoever has
no terminal (a manager agent, a script). Real tmux on the box's throwaway server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from tests.conftest import Box, wait_for
from ttal.errors import Exit

AGENT = "sh -c 'echo agent-ready; echo second line; sleep 600'"
RUNTIME = f'echoer: {{kind: command, command: "{AGENT}"}}'


def test_screen_shows_the_agents_pane_not_a_persons(make_box: Callable[..., Box]) -> None:
    box = make_box(runtimes_yaml=RUNTIME, agents_yaml="boss: {role: manager, runtime: echoer}")
    box.ttal("up", "boss", check=True)
    # A person attached and opened a window: it is the active pane now, not the agent's.
    subprocess.run(["tmux", "-L", box.sb.socket, "new-window", "-t", "=boss:",
                    "echo persons-shell; sleep 600"], env=box.env, check=True)  # fmt: skip

    def shown() -> str:
        out = box.ttal("attach", "bo", "--screen").stdout  # a unique part of the name will do
        return out if "second line" in out else ""

    text = wait_for(shown, 15, "the agent's output on its screen")
    assert text.startswith("boss pane %") and "running" in text, text
    assert "agent-ready" in text and "persons-shell" not in text, text

    data = json.loads(box.ttal("attach", "boss", "--json", "--lines", "1", check=True).stdout)
    assert data["session"] == "boss" and data["pane"].startswith("%")
    assert data["lines"] == ["second line"] and not data["dead"] and data["pid"] > 0
    assert data["size"] == "220x50"


def test_screen_and_attach_refusals(box: Box) -> None:
    proc = box.ttal("attach", "nobody", "--screen")
    assert proc.returncode == Exit.NOT_FOUND and "no session 'nobody'" in proc.stderr
    subprocess.run(["tmux", "-L", box.sb.socket, "new-session", "-d", "-s", "pane", "sleep 300"],
                   env=box.env, check=True)  # fmt: skip
    proc = box.ttal("attach", "pane")  # no terminal here: it says how to look anyway
    assert proc.returncode == Exit.PRECONDITION and "ttal attach pane --screen" in proc.stderr
