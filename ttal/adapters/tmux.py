"""tmux adapter on ttal's private server (`tmux -L <socket>`). Never the user's default server.

Raw CLI calls: libtmux costs ~100 ms to import and its send_keys swallows tmux errors
(libraries.md §2.4). Text is delivered with a paste buffer, so no key names are interpreted.
libtmux serves one cold read, `Tmux.screen` (`ttal attach --screen`), imported there only.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ttal.adapters.proc import Result, run
from ttal.errors import ExternalError

PANE_OPTION = "@ttal_pane"  # session option: the id (%N) of the pane ttal started the agent in
LANDED_OPTION = "@ttal_landed"  # pane option: the mark of the last paste that reached it
_HASHES = re.compile(r"(#+)(\[?)")


def literal(text: str) -> str:
    """`text` as a tmux format that expands to itself. tmux 3.3a expands formats in
    `new-session -c` and `-s` and in run-shell's command: a `worktree_root` holding `#W`
    started a worker in the caller's directory (the base checkout), and `#(cmd)` in a path
    ran cmd (issue 15). Targets (-t), -e and a session's shell command are not expanded.
    Every argument tmux expands that carries outside text goes through here.

    `##` is tmux's escape for `#`, but a run of `#` before `[` (a style, `#[fg=red]`) is
    kept as it is, so such a run is left alone."""
    return _HASHES.sub(lambda m: m[0] if m[2] else m[1] * 2, text)


@dataclass(frozen=True)
class Pane:
    id: str  # %N, unique for the server's life
    incarnation: str  # "<server pid>:<pane id>": changes whenever the agent is restarted


@dataclass(frozen=True)
class Screen:
    """What a person sees in an agent's pane, and what runs there."""

    session: str
    pane: str
    command: str  # the pane's foreground program
    pid: int
    dead: bool  # the program exited (a pane kept with remain-on-exit)
    size: str  # columns x rows
    lines: list[str]


@dataclass(frozen=True)
class Tmux:
    socket: str

    def call(self, *args: str, stdin: str | None = None, path: str = "") -> Result:
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        if path:
            env["PATH"] = path
        return run(["tmux", "-L", self.socket, *args], env=env, stdin=stdin)

    def sessions(self) -> list[str]:
        result = self.call("list-sessions", "-F", "#{session_name}")
        return result.out.split() if result.ok else []

    def has(self, name: str) -> bool:
        return self.call("has-session", "-t", f"={name}").ok

    def new_session(self, name: str, cwd: Path, env: Mapping[str, str], command: str) -> None:
        """Start `command` in `cwd`, and only there: the shell changes to it itself (its
        command line is not a format), so a directory tmux cannot enter never leaves the
        agent in tmux's fallback, the caller's own directory."""
        args = ["new-session", "-d", "-s", literal(name), "-c", literal(str(cwd)),
                "-x", "220", "-y", "50"]  # fmt: skip
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        command = f"cd -- {shlex.quote(str(cwd))} && {command}"
        # Remember the agent's own pane: a person who attaches and opens a window (or splits)
        # makes that the active pane, and text for the agent must never reach their shell.
        # tmux 3.3a gives a new session the PATH of the client that runs new-session, not the
        # one passed with -e: without this, `ttal` was not found inside Claude Code's shell.
        result = self.call(*args, command, ";", "set-option", "-F", PANE_OPTION, "#{pane_id}",
                           path=env.get("PATH", ""))  # fmt: skip
        if not result.ok and not self.has(name):
            raise ExternalError(f"tmux could not start session {name}: {result.err.strip()}")

    def kill(self, name: str) -> bool:
        return self.call("kill-session", "-t", f"={name}").ok

    def agent_pane(self, name: str) -> Pane | None:
        """The pane the session's agent runs in, or None when the session is gone."""
        result = self.call("display-message", "-p", "-t", f"={name}:",
                           f"#{{pid}} #{{{PANE_OPTION}}} #{{pane_id}}")  # fmt: skip
        words = result.out.split() if result.ok else []
        if len(words) not in (2, 3):
            return None
        pane = words[1] if len(words) == 3 else words[-1]  # sessions older than PANE_OPTION
        return Pane(pane, f"{words[0]}:{pane}")

    def paste(self, pane: str, text: str, enter: bool = True, mark: str = "") -> None:
        """One tmux command: load the text, paste it (bracketed when the program asked for
        it), then Enter. One client instead of four, and the server runs them in order.
        A `mark` is stored on the pane right after the paste, in the same command list, so
        it is there if and only if the text went in (`landed` reads it back)."""
        buffer = f"ttal-{os.urandom(6).hex()}"  # not uuid: it imports platform, ~5 ms
        args = ["load-buffer", "-b", buffer, "-", ";",
                "paste-buffer", "-d", "-p", "-b", buffer, "-t", pane]  # fmt: skip
        if mark:
            args += [";", "set-option", "-p", "-t", pane, LANDED_OPTION, mark]
        if enter:
            args += [";", "send-keys", "-t", pane, "Enter"]
        result = self.call(*args, stdin=text)
        if not result.ok:
            self.call("delete-buffer", "-b", buffer)
            raise ExternalError(f"tmux paste into {pane} failed: {result.err.strip()}")

    def landed(self, pane: str) -> str:
        """The mark of the last marked paste into `pane` (%N); "" if none or it is gone."""
        result = self.call("display-message", "-p", "-t", pane, f"#{{{LANDED_OPTION}}}")
        return result.out.strip() if result.ok else ""

    def capture(self, name: str, lines: int = 200) -> str:
        """The screen and history of a session's active pane, or of a pane by id (%N)."""
        target = name if name.startswith("%") else f"={name}:"
        result = self.call("capture-pane", "-p", "-J", "-S", f"-{lines}", "-t", target)
        return result.out if result.ok else ""

    def screen(self, name: str, lines: int = 50) -> Screen | None:
        """The session's agent pane (not a pane a person opened) and its last `lines` lines,
        or None when it is gone. libtmux reads the pane's fields as one typed object; it is
        imported here, on this cold path only, never for delivery (its send_keys swallows
        tmux errors)."""
        found = self.agent_pane(name)
        if found is None:
            return None
        import libtmux

        pane = libtmux.Server(socket_name=self.socket).panes.get(pane_id=found.id, default=None)
        if pane is None:
            return None
        text = pane.capture_pane(start=-lines, join_wrapped=True)
        while text and not text[-1].strip():
            text.pop()  # the empty rows below the cursor
        text = text[-lines:]  # -S counts history above the screen; a person means the last N
        return Screen(session=name, pane=found.id, command=pane.pane_current_command or "",
                      pid=int(pane.pane_pid or 0), dead=pane.pane_dead == "1",
                      size=f"{pane.pane_width}x{pane.pane_height}", lines=text)  # fmt: skip

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
