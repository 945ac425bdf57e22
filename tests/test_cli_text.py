"""What `ttal --version` and the help print (issue 10): the version without typer, and help
whose sentences are whole (typer's rich help printed a docstring's hard line breaks)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest
import typer.main

import ttal
from ttal.cli.app import app, unwrapped
from ttal.cli.table import COMMANDS


def ttal_says(*args: str, columns: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "TTAL_SERVER": "off"}
    return subprocess.run([sys.executable, "-m", "ttal", *args], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_version_is_printed_without_typer() -> None:
    proc = ttal_says("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"ttal {ttal.__version__}\n", "")
    check = ("import sys; from ttal.main import main; code = main(['--version']); "
             "print(code, 'typer' in sys.modules)")  # fmt: skip
    quiet = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert quiet.stdout.splitlines()[-1] == "0 False"  # the hot paths' cost: none
    assert "--version" in ttal_says("--help").stdout


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("--help",), "Send a message. Stored first; typed into the recipient's session, or "
         "queued while it is offline or busy. Never lost, never twice."),
        (("gc", "--help"), "Remove what finished tasks left: their sessions, clean worktrees "
         "and merged branches (unmerged ones are archived under refs/ttal/archive/), and stale "
         "lock files."),
        (("gc", "--help"), "A clean worktree may still hold files git ignores (a worker's .env, "
         "build state): gc names them"),
        (("go", "--help"), "Do the next step of a task's pipeline: spawn, advance, review, "
         "merge. Safe to repeat."),
        (("server", "--help"), "The warm server: it keeps ttal imported and runs hot commands "
         "(go, send, alert, report, status...) in a forked child, ~100 ms faster each."),
    ],
)  # fmt: skip
def test_help_prints_whole_sentences(args: tuple[str, ...], sentence: str) -> None:
    proc = ttal_says(*args)
    assert proc.returncode == 0, proc.stderr
    assert any(sentence in line for line in proc.stdout.splitlines()), proc.stdout


def test_every_command_help_is_unwrapped() -> None:
    """Each command's (and each group's commands') help: one line per paragraph."""
    group = typer.main.get_group(app)
    seen = 0
    for entry in COMMANDS:
        command = group.commands[entry.name]
        subs = getattr(command, "commands", {})
        for each in [command, *subs.values()]:
            text = each.help or ""
            assert text, f"`ttal {entry.name}` {each.name} has no help"
            assert all("\n" not in p for p in text.split("\n\n")), (each.name, text)
            seen += 1
    assert seen > len(COMMANDS)


def test_unwrapping_keeps_paragraphs_and_list_items() -> None:
    doc = """First line
        goes on.

        - one item
          continued
        - two

        \bkept
        as is"""
    assert unwrapped(doc) == ("First line goes on.\n\n- one item continued\n- two\n\n"
                              "\bkept\nas is")  # fmt: skip
    assert unwrapped(inspect.cleandoc("  one\n  two")) == "one two"
