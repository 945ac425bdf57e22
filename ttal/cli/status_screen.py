"""`ttal status --watch`: the dashboard redrawn full-screen until `q` or ^C.

Plain ANSI, stdlib only (no curses, no rich): the alternate screen, the cursor hidden, each
frame drawn from the top-left with every line erased to its end and the rest of the screen
erased below (no flicker of a full clear). The terminal takes keys one at a time without
echo (cbreak: ^C still interrupts), and gets its settings, its screen and its cursor back
however the loop ends. Runs in-process, never on the warm server: it owns the terminal
(ttal/cli/table.py `local`). Works in any terminal that speaks VT100/xterm, 80x24 over SSH
included.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable
from typing import TYPE_CHECKING

from ttal.cli.render import printable
from ttal.cli.render_status import dashboard
from ttal.errors import TtalError, UsageError

if TYPE_CHECKING:
    from ttal.commands.status import StatusReport

ENTER = "\x1b[?1049h\x1b[?25l"  # the alternate screen; hide the cursor
LEAVE = "\x1b[?25h\x1b[?1049l"  # show the cursor; back to the person's screen
HOME, ERASE_LINE, ERASE_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
QUIT_KEYS = (b"q", b"Q", b"\x03", b"\x04")  # q, ^C (should it arrive as a key), ^D


def watch(read: Callable[[], StatusReport], interval: float) -> None:
    """Draw `read()` every `interval` seconds until a quit key or ^C."""
    fd = sys.stdin.fileno()
    if not (os.isatty(fd) and sys.stdout.isatty()):
        raise UsageError("--watch needs a terminal", hint="`ttal status --json` is for scripts")
    saved = termios.tcgetattr(fd)
    out = sys.stdout
    try:
        tty.setcbreak(fd)
        out.write(ENTER)
        while True:
            out.write(frame(read, interval))
            out.flush()
            if _quit_within(fd, interval):
                return
    except KeyboardInterrupt:
        return
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        out.write(LEAVE)
        out.flush()


def frame(read: Callable[[], StatusReport], interval: float) -> str:
    """One screenful: the dashboard sized to the terminal now (it may have been resized),
    or what went wrong reading it (the loop goes on: a busy store answers next time)."""
    cols, lines = os.get_terminal_size(1)
    try:
        text = dashboard(read(), cols - 1, lines - 1)  # the last column and line stay free
    except TtalError as err:
        text = f"ttal status {time.strftime('%H:%M:%S')}: {err.message}\n(trying again)"
    footer = f"redrawn every {interval:g}s; q quits"
    body = printable(text).split("\n")[: max(lines - 1, 1)]
    body += [""] * (lines - 1 - len(body))  # the footer on the bottom line
    rows = [line[: cols - 1] + ERASE_LINE for line in [*body, footer]]
    return HOME + "\n".join(rows) + ERASE_BELOW


def _quit_within(fd: int, seconds: float) -> bool:
    """Wait up to `seconds` for a key; True when it says quit."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return False
        key = os.read(fd, 32)
        if not key or any(k in key for k in QUIT_KEYS):
            return True
    return False
