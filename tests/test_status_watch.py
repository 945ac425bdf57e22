"""`ttal status --watch` in a real terminal: a shell in an 80x24 tmux pane (a private
server, libtmux's TestServer) runs it as a person would; capture-pane shows what they see."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import libtmux
import pytest

from tests.by_hand import commit, idle_box, worker_env
from tests.conftest import Box, wait_for

PROMPT = "PERSON-PROMPT$ "


def person_shell(server: libtmux.Server, box: Box, tmp_path: Path) -> Callable[..., str]:
    """A shell with the sandbox's environment in an 80x24 pane; returns a function that
    types a line into it (when given one) and returns the screen."""
    rc = tmp_path / "person.sh"
    exports = [f"export {k}={shlex.quote(v)}" for k, v in box.env.items() if k.isidentifier()]
    rc.write_text("\n".join([*exports, "unset TMUX TMUX_PANE", f"PS1={shlex.quote(PROMPT)}",
                             "export PS1"]) + "\n", encoding="utf-8")  # fmt: skip
    tmux = ["tmux", "-L", str(server.socket_name)]
    subprocess.run([*tmux, "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24",
                    f"ENV={rc} exec /bin/sh -i"], check=True)  # fmt: skip

    def screen(line: str | None = None, keys: tuple[str, ...] = ()) -> str:
        if line is not None:
            subprocess.run([*tmux, "send-keys", "-l", line], check=True)
            subprocess.run([*tmux, "send-keys", "Enter"], check=True)
        if keys:
            subprocess.run([*tmux, "send-keys", *keys], check=True)
        return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip

    wait_for(lambda: PROMPT.strip() in screen(), 30, "the shell's prompt")
    return screen


def until(screen: Callable[..., str], want: Callable[[str], bool], what: str) -> str:
    """The first screen `want` accepts; on timeout the error shows the last one."""
    last = [""]

    def check() -> str:
        last[0] = screen()
        return last[0] if want(last[0]) else ""

    try:
        return str(wait_for(check, 60, what))
    except AssertionError as err:
        raise AssertionError(f"{err}; the screen:\n{last[0]}") from None


@pytest.mark.parametrize("quit_key", ["q", "C-c"], ids=["q", "ctrl-c"])
def test_status_watch_draws_refreshes_and_quits(
    make_box: Callable[..., Box], tmp_path: Path, TestServer: type[libtmux.Server], quit_key: str
) -> None:
    box = idle_box(make_box, tmp_path)
    uuid = box.add("Watch me advance", "project:api")
    box.ttal("go", uuid, check=True)
    screen = person_shell(TestServer(), box, tmp_path)
    screen(f"{shlex.quote(sys.executable)} -m ttal status --watch --interval 0.3")

    drawn = until(screen, lambda s: "q quits" in s and "implement: working" in s, "a frame")
    lines = drawn.split("\n")
    assert max(len(line) for line in lines) <= 80 and "Watch me advance" in drawn, drawn
    assert lines[23].startswith("redrawn every 0.3s; q quits"), drawn  # 80x24: the last line
    assert PROMPT not in drawn  # the alternate screen: the shell's lines are hidden

    commit(box, uuid, "done.txt", "done\n")
    box.ttal("go", env=worker_env(uuid), check=True)  # +coded: the review lead starts
    until(screen, lambda s: "implement: reviewing (r1)" in s, "the redraw after +coded")

    screen(keys=(quit_key,))
    back = until(
        screen, lambda s: s.rstrip().endswith(PROMPT.strip()), f"the prompt after {quit_key}"
    )
    assert "q quits" not in back and "status --watch" in back, back  # the person's own screen
    screen("stty -a")
    settings = until(screen, lambda s: "icanon" in s, "stty's answer")
    assert "-icanon" not in settings and "-echo " not in settings, settings  # restored


def test_status_watch_refuses_without_a_terminal(box: Box) -> None:
    proc = box.ttal("status", "--watch")
    assert proc.returncode != 0 and "--watch needs a terminal" in proc.stderr, proc.stderr


def test_status_watch_is_never_served() -> None:
    """A warm server's child is not in the terminal's foreground: it owns no terminal."""
    from ttal.cli.table import served

    assert served(["status"]) and served(["status", "--json"])
    assert not served(["status", "--watch"]) and not served(["status", "-w", "--interval", "1"])
    assert not served(["watch"]) and not served([])
