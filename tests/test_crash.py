"""Crash safety, proven by fault injection: `ttal` is killed (as by kill -9) at every named
point of spawn, advance, review, merge and cleanup; then `ttal go` runs again. The final
state must equal an uninterrupted run: tags, branches, the base branch's commits, worktrees,
sessions and messages, with no orphans, no duplicates and no lost commits."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.by_hand import commit, reviewer_env, worker_env
from tests.conftest import Box, wait_for
from ttal.faults import POINTS

KILLED = 137


def run_maybe_killed(box: Box, args: tuple[str, ...], env: dict[str, str], fault: str) -> bool:
    """Run a command with the fault armed (it reaches the background `ttal go` that
    `ttal review approve` starts, too). True if the fault killed this command."""
    armed = {"TTAL_FAULT": fault, "TTAL_FAULT_LOG": str(box.sb.root / "faults.log")}
    proc = box.ttal(*args, env={**env, **armed} if fault else env)
    if proc.returncode == KILLED:
        return True
    assert proc.returncode == 0, f"{args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return False


def continuations(uuid: str) -> list[int]:
    """Background `ttal go <uuid>` processes started by `ttal review approve`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ttal" in cmd and b"go" in cmd and uuid.encode() in cmd:
            found.append(int(pid))
    return found


def drive(box: Box, fault: str) -> tuple[str, set[str]]:
    """The whole pipeline by hand, with `fault` armed for every ttal command, then `ttal go`
    again (unarmed) until it has nothing left to do. Returns the task and where it crashed."""
    crashed: set[str] = set()
    uuid = box.add("Write the notes", "project:web")
    if run_maybe_killed(box, ("go", uuid), {}, fault):
        crashed.add("spawn")
        box.ttal("go", uuid, check=True)
    commit(box, uuid, "notes.md", "# notes\n", "Write the notes")
    if run_maybe_killed(box, ("go",), worker_env(uuid), fault):
        crashed.add("advance")
        box.ttal("go", env=worker_env(uuid), check=True)
    if run_maybe_killed(box, ("review", "approve"), reviewer_env(uuid), fault):
        crashed.add("review")
    wait_for(lambda: not continuations(uuid), timeout=60, what="background go to end")
    for _ in range(3):  # a person runs `ttal go` until it has nothing left to do
        proc = box.ttal("go", uuid, check=True)
        if "already merged" in proc.stdout:
            break
    return uuid, crashed


def final_state(box: Box, uuid: str) -> dict[str, Any]:
    task = box.get(uuid)
    main_log = box.git("web", "log", "--topo-order", "--format=%s", "main").splitlines()
    return {
        "status": task["status"],
        "tags": sorted(task.get("tags", [])),
        "main": [line.split(" (ttal task")[0].replace(uuid[:8], "ID") for line in main_log],
        "checkout": box.git("web", "status", "--porcelain"),
        "notes on main": (box.sb.repos["web"] / "notes.md").read_text(encoding="utf-8"),
        "branches": [b.split()[0] for b in by_hand.branches(box, "web")],
        "worktrees": by_hand.worktrees(box, "web"),
        "sessions": box.sessions(),
        "merged messages": len(by_hand.rows(box, "SELECT id FROM messages WHERE "
                                            "recipient = 'human' AND body LIKE '%merged into%'")),
        "open intents": by_hand.rows(box, "SELECT action, note FROM intents WHERE state IN "
                                     "('pending', 'flagged')"),
    }  # fmt: skip


@pytest.mark.parametrize("fault", ["", *POINTS], ids=["uninterrupted", *POINTS])
def test_killed_at_every_point_then_go_again(
    make_box: Callable[..., Box], tmp_path: Path, fault: str
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid, crashed = drive(box, fault)
    # The uninterrupted run ends in exactly this state too (the first case).
    assert final_state(box, uuid) == expected_state(), f"killed at {fault} during {crashed}"
    fired = box.sb.root / "faults.log"
    if fault:
        assert fired.exists(), f"the fault point {fault} was never reached"
        assert fired.read_text(encoding="utf-8").split()[0] == fault


def expected_state() -> dict[str, Any]:
    return {
        "status": "completed",
        "tags": ["coded", "lgtm", "merged", "reviewing"],
        "main": ["Merge ttal/ID-write-the-notes: Write the notes", "Write the notes",
                 "Initial commit"],
        "checkout": "",
        "notes on main": "# notes\n",
        "branches": ["main"],
        "worktrees": [],
        "sessions": [],
        "merged messages": 1,
        "open intents": [],
    }  # fmt: skip


def test_recover_reports_nothing_on_a_clean_state(box: Box) -> None:
    proc = box.ttal("recover", check=True)
    assert "nothing to recover" in proc.stdout


def test_watch_settles_intents_a_crash_left(box: Box) -> None:
    import sqlite3
    import time

    box.ttal("journal", check=True)  # creates ttal's database
    db = sqlite3.connect(box.sb.state_dir / "ttal.db")
    db.execute(
        "INSERT INTO intents(ts, key, action, task, tier, blast, detail, pid, state) "
        "VALUES (?, 'session:w-gone', 'session.start', '', 'mutating', 'recoverable', "
        "'{\"name\": \"w-gone\"}', 999999999, 'pending')",
        (time.time(),),
    )
    db.commit()
    db.close()
    proc = box.ttal("watch", "--once", check=True)
    assert "session.start did not happen" in proc.stdout
    assert by_hand.rows(box, "SELECT state FROM intents WHERE key = 'session:w-gone'") == [
        ("skipped",)
    ]
