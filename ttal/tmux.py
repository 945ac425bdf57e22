"""tmux adapter on ttal's private server (`tmux -L <socket>`). Never the user's default server.

Raw CLI calls: libtmux costs ~95 ms to import and its send_keys swallows tmux errors
(libraries.md §2.4). Text is delivered with a paste buffer, so no key names are interpreted.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ttal.errors import ExternalError, NotFound
from ttal.proc import Result, run


@dataclass(frozen=True)
class Tmux:
    socket: str

    def call(self, *args: str, stdin: str | None = None) -> Result:
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        return run(["tmux", "-L", self.socket, *args], env=env, stdin=stdin)

    def sessions(self) -> list[str]:
        result = self.call("list-sessions", "-F", "#{session_name}")
        return result.out.split() if result.ok else []

    def has(self, name: str) -> bool:
        return self.call("has-session", "-t", f"={name}").ok

    def new_session(self, name: str, cwd: Path, env: Mapping[str, str], command: str) -> None:
        args = ["new-session", "-d", "-s", name, "-c", str(cwd), "-x", "220", "-y", "50"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        result = self.call(*args, command)
        if not result.ok and not self.has(name):
            raise ExternalError(f"tmux could not start session {name}: {result.err.strip()}")

    def kill(self, name: str) -> bool:
        return self.call("kill-session", "-t", f"={name}").ok

    def send_text(self, name: str, text: str, enter: bool = True) -> None:
        """Type `text` into the session's active pane, literally, then Enter."""
        if not self.has(name):
            raise NotFound(f"no tmux session {name} on socket {self.socket}")
        buffer = f"ttal-{uuid.uuid4().hex[:12]}"
        loaded = self.call("load-buffer", "-b", buffer, "-", stdin=text)
        if not loaded.ok:
            raise ExternalError(f"tmux load-buffer failed: {loaded.err.strip()}")
        pasted = self.call("paste-buffer", "-d", "-p", "-b", buffer, "-t", f"={name}:")
        if not pasted.ok:
            self.call("delete-buffer", "-b", buffer)
            raise ExternalError(f"tmux paste into {name} failed: {pasted.err.strip()}")
        if enter:
            self.call("send-keys", "-t", f"={name}:", "Enter")

    def capture(self, name: str, lines: int = 200) -> str:
        result = self.call("capture-pane", "-p", "-J", "-S", f"-{lines}", "-t", f"={name}:")
        return result.out if result.ok else ""

    def pane_pid(self, name: str) -> int:
        result = self.call("display-message", "-p", "-t", f"={name}:", "#{pane_pid}")
        return int(result.out.strip()) if result.ok and result.out.strip().isdigit() else 0

    def activity(self) -> dict[str, float]:
        """The last output time (epoch seconds) of each session's active window."""
        result = self.call("list-sessions", "-F", "#{session_name} #{window_activity}")
        found: dict[str, float] = {}
        for line in result.out.splitlines() if result.ok else []:
            name, _, stamp = line.rpartition(" ")
            if stamp.isdigit():
                found[name] = float(stamp)
        return found

    def kill_server(self) -> None:
        self.call("kill-server")
