"""`ttal diary` and `ttal breathe`: a handoff in the diary, a fresh restart, a briefing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.by_hand import idle_box
from tests.conftest import Box, wait_for
from ttal.errors import Exit

LEAD = {"TTAL_AGENT": "lead", "TTAL_ROLE": "manager"}


def lead_box(make_box: Callable[..., Box], tmp_path: Path) -> Box:
    box = idle_box(make_box, tmp_path)
    text = box.sb.config.read_text(encoding="utf-8")
    text = text.replace(
        "agents:\n", "agents:\n  lead: {role: manager, runtime: scripted-worker}\n", 1
    )
    box.sb.config.write_text(text, encoding="utf-8")
    box.ttal("up", "lead", check=True)
    return box


def pane_pid(box: Box, name: str) -> str:
    proc = subprocess.run(["tmux", "-L", box.sb.socket, "display-message", "-p", "-t",
                           f"={name}:", "#{pane_pid}"], capture_output=True, text=True)  # fmt: skip
    return proc.stdout.strip()


def prompt(box: Box, name: str) -> str:
    return (box.sb.state_dir / "run" / f"{name}.prompt.md").read_text(encoding="utf-8")


def test_breathe_from_a_person_restarts_fresh_with_the_diary(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = lead_box(make_box, tmp_path)
    box.ttal("diary", "append", "the api migration is half done", env=LEAD, check=True)
    before = pane_pid(box, "lead")
    proc = box.ttal("breathe", "lead", "--note", "handoff: finish the migration", check=True)
    assert "lead:" in proc.stdout
    assert pane_pid(box, "lead") not in ("", before)  # a new process: a fresh context
    entries = json.loads(box.ttal("diary", "read", "lead", "--json", check=True).stdout)
    assert [e["text"] for e in entries["entries"]] == [
        "the api migration is half done",
        "handoff: finish the migration",
    ]
    assert "handoff: finish the migration" in prompt(box, "lead")  # the briefing
    context = box.ttal("context", env=LEAD, check=True).stdout
    assert "handoff: finish the migration" in context


def test_breathe_from_inside_the_agent(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = lead_box(make_box, tmp_path)
    before = pane_pid(box, "lead")
    proc = box.ttal("breathe", "--note", "my own handoff", env=LEAD, check=True)
    assert "restarting in the background" in proc.stdout
    wait_for(lambda: pane_pid(box, "lead") not in ("", before), what="lead restarted")
    assert "my own handoff" in prompt(box, "lead")


def test_diary_refusals(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = lead_box(make_box, tmp_path)
    empty = box.ttal("diary", "append", "  ", env=LEAD)
    assert empty.returncode == Exit.PRECONDITION and empty.stderr.startswith("ttal: ")
    other = box.ttal("diary", "append", "x", "--agent", "lead", env={"TTAL_AGENT": "w-1",
                     "TTAL_ROLE": "worker"})  # fmt: skip
    assert other.returncode == Exit.FORBIDDEN
    nobody = box.ttal("diary", "read")  # a person must name the agent
    assert nobody.returncode == Exit.USAGE
