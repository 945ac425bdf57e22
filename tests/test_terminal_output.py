"""What ttal prints is inert in a person's terminal: a task's description, a message's body,
an agent's words, shown escaped, never acted on (issue 15, finding 9).

Each command runs as a person runs it: in a shell in a tmux pane (a private `-L` server with
`set-clipboard on`, so a clipboard write would become a tmux buffer). The pane is then read
back with `capture-pane -e`: the text before the command is still on the screen (nothing
cleared it), no clipboard buffer was made, and the sequences show as escaped text. stdout
is checked byte by byte too.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import libtmux
import pytest

from tests.conftest import Box, wait_for
from tests.mesh_helpers import send, sent

OSC52 = "\x1b]52;c;cHduZWQ=\x07"  # write "pwned" to the clipboard
CLEAR = "\x1b[2J\x1b[3J\x1b[H"  # clear the screen and the scrollback, cursor home
LINK = "\x1b]8;;https://evil.example/\x1b\\click here\x1b]8;;\x1b\\"  # an OSC 8 hyperlink
HOSTILE = f"deploy {OSC52} {CLEAR} {LINK} raw \x1b esc c1 \x9b2J bell \x07 end"
# A byte that must never reach the terminal: ESC, BEL, and C1 controls (UTF-8 C2 80-9F).
ACTIVE = [b"\x1b", b"\x07", *(bytes([0xC2, c]) for c in range(0x80, 0xA0))]
SHOWN = ["\\x1b]52;c;cHduZWQ=\\x07", "\\x1b[2J\\x1b[3J\\x1b[H",
         "\\x1b]8;;https://evil.example/\\x1b\\click here", "\\x9b2J"]  # fmt: skip


@pytest.fixture
def hostile(make_box: Callable[..., Box]) -> Box:
    """A task, messages to the person (each short enough for `ttal inbox`'s one-line
    preview), a diary entry: each carrying the sequences."""
    box = make_box(agents_yaml="boss: {role: manager, runtime: scripted-worker}")
    box.add(HOSTILE, "project:web")
    for part in (OSC52, CLEAR, LINK, "raw \x1b esc c1 \x9b2J bell \x07 end"):
        sent(send(box, "human", f"see {part}", env=BOSS))
    box.ttal("diary", "append", HOSTILE, env=BOSS, check=True)
    return box


BOSS = {"TTAL_AGENT": "boss", "TTAL_ROLE": "manager"}
COMMANDS = {  # what each is run as
    "status": (("status",), {}),
    "inbox": (("inbox",), {}),
    "context": (("context",), BOSS),
    "diary": (("diary", "read", "boss"), {}),
}


def test_stdout_carries_no_control_sequence(hostile: Box) -> None:
    wrong = {}
    for name, (args, env) in COMMANDS.items():
        proc = subprocess.run([sys.executable, "-m", "ttal", *args], env={**hostile.env, **env},
                              capture_output=True, timeout=60, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout.decode()
        active = [b for b in ACTIVE if b in proc.stdout]
        if active or [s for s in SHOWN if s not in text]:
            wrong[name] = (active, text)
    refused = subprocess.run(
        [sys.executable, "-m", "ttal", "send", "--to", HOSTILE, "--", "hi"],
        env=hostile.env, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and refused.stderr.startswith(b"ttal: ")
    if [b for b in ACTIVE if b in refused.stderr]:
        wrong["an error naming an unknown agent"] = ([], refused.stderr.decode())
    assert not wrong, wrong


def test_a_persons_terminal_shows_the_text_and_does_nothing(hostile: Box, tmp_path: Path) -> None:
    wrong = {}
    for name in ("status", "inbox"):
        person = libtmux.Server(socket_name=f"person-{name}")
        try:
            shown, buffers = _run_in_a_pane(person, hostile, COMMANDS[name][0], tmp_path)
        finally:
            person.kill()
        flat = "".join(shown.split("\n"))  # the pane wraps long rows
        faults = {
            "the screen was cleared": "BEFORE-THE-COMMAND" not in shown,
            "the command did not finish": "AFTER-THE-COMMAND" not in shown,
            "a clipboard write reached tmux": buffers != "",
            "a hyperlink reached the terminal": "\x1b]8;" in shown,
            "the sequences are not shown as text": any(s not in flat for s in SHOWN),
        }
        if any(faults.values()):
            wrong[name] = ([f for f, bad in faults.items() if bad], shown, buffers)
    assert not wrong, wrong


def _run_in_a_pane(
    person: libtmux.Server, box: Box, args: tuple[str, ...], tmp_path: Path
) -> tuple[str, str]:
    """Run `ttal ARGS` in a shell in a wide pane; return the screen (`capture-pane -e`:
    with its escape sequences) and the tmux buffers."""
    done = tmp_path / f"done-{args[0]}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in box.env.items())
    ttal = f"env {exports} {shlex.quote(sys.executable)} -m ttal {shlex.join(args)}"
    line = f"echo BEFORE-THE-COMMAND; {ttal}; echo AFTER-THE-COMMAND; touch {done}; exec sleep 600"
    conf = tmp_path / "person.conf"  # a clipboard write from the program makes a buffer
    conf.write_text("set-option -g set-clipboard on\n", encoding="utf-8")
    tmux = ["tmux", "-L", str(person.socket_name)]
    subprocess.run([*tmux, "-f", str(conf), "new-session", "-d", "-x", "400", "-y", "60",
                    "/bin/sh", "-c", line], check=True)  # fmt: skip
    wait_for(done.exists, 60, "the command to finish in the pane")
    screen = subprocess.run([*tmux, "capture-pane", "-p", "-e"], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    buffers = subprocess.run([*tmux, "list-buffers"], capture_output=True, text=True).stdout
    return screen, buffers
