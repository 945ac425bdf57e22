"""A recipient for delivery tests: records exactly what arrives on its terminal.

    python tests/recorder.py --out LINES.hex [--acks]

It reads fd 0 raw (no buffered reader, no readline: either could change what a line holds)
and appends each line, as hex, to LINES.hex: one line of input per line of output, so a
test can compare bytes. It runs no other program.

With --acks it also acts as an acknowledging recipient, the way a real runtime's hook would:
it reports idle once at start (then `ttal up` may type in), and when a whole message (its
`[ttal #N from X]` header through its reply hint) has arrived, it appends `MSG <id>` to
LINES.msgs and only then acknowledges the id (`ttal.engine.mesh.ack`, in-process). A message typed
again (ttal re-sends what a dead pane never acknowledged) that was already recorded is
noted as `DUP <id>` and not recorded twice: the recipient's half of exactly-once. When it
has read all that was typed in and a message was among it, it reports idle again, as a
runtime's Stop hook does when a turn ends (that report delivers the next piece of a backlog).
"""

from __future__ import annotations

import argparse
import os
import re
import select
import sys
import termios
import time
from pathlib import Path
from typing import Any

HEADER = re.compile(rb"^\[ttal #(\d+) from ")
FOOTER = (b"[reply with:", b"[from ttal itself")


class Acker:
    """Whole messages, recorded once each, then acknowledged to ttal."""

    def __init__(self, log: Path) -> None:
        from ttal.engine import mesh
        from ttal.engine.app import App

        self.mesh = mesh
        self.app = App.load()
        self.log = log
        self.seen = {int(line.split()[1]) for line in _lines(log) if line.startswith("MSG ")}
        self.current: int | None = None
        self.read_one = False  # a whole message since the last idle report
        self.mesh.ack(self.app, [])  # says "I acknowledge": ttal may re-send to me
        from ttal.commands.agents import report

        self.report = report
        report(self.app, "idle")  # ready for input, as a runtime's hook says it

    def line(self, raw: bytes) -> None:
        header = HEADER.match(raw)
        if header:
            self.current = int(header.group(1))
        elif self.current is not None and raw.startswith(FOOTER):
            done, self.current = self.current, None
            self.complete(done)

    def complete(self, message_id: int) -> None:
        if message_id in self.seen:
            _append(self.log, f"DUP {message_id}\n")
        else:
            _append(self.log, f"MSG {message_id}\n")
            self.seen.add(message_id)
        self.mesh.ack(self.app, [message_id])
        self.read_one = True

    def turn_ended(self) -> None:
        """Nothing more is waiting on the terminal: the turn is over."""
        if self.read_one and not select.select([0], [], [], 0)[0]:
            self.read_one = False
            self.report(self.app, "idle")


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def _append(path: Path, text: str) -> None:
    # One write per record with O_APPEND: a kill never leaves half a record.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--acks", action="store_true")
    parser.add_argument("--slow-start", type=float, default=0.0, metavar="SECONDS",
                        help="start up this long, then drop typed-ahead input, as a TUI "
                        "switching its terminal to raw mode (TCSAFLUSH) does")  # fmt: skip
    args = parser.parse_args()
    if args.slow_start:
        time.sleep(args.slow_start)
        termios.tcflush(0, termios.TCIFLUSH)
    acker: Any = Acker(args.out.with_suffix(".msgs")) if args.acks else None
    print("recorder ready", flush=True)
    buffer = b""
    while chunk := os.read(0, 65536):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            _append(args.out, raw.hex() + "\n")
            if acker:
                acker.line(raw)
        if acker and not buffer:
            acker.turn_ended()
    return 0


if __name__ == "__main__":
    sys.exit(main())
