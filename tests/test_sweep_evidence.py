"""Destructive sweeps need evidence (issue 10, item 3): when Taskwarrior returns no tasks at
all while ttal knows live ones (3.x over 2.x data, a moved data dir), `ttal gc` refuses and
kills nothing. Real task, git and tmux."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.conftest import Box
from ttal.core.evidence import refusal


def test_the_rule_refuses_only_an_empty_answer_beside_known_live_tasks() -> None:
    assert refusal("gc", 0, []) is None  # nothing known: a fresh setup, nothing to protect
    assert refusal("gc", -1, ["a177a0dc-1"]) is None  # Taskwarrior answered: trust it
    assert refusal("gc", 3, ["a177a0dc-1"]) is None
    text = refusal("gc", 0, ["a177a0dc-1111", "b2"])
    assert text is not None
    assert "a177a0dc" in text and "nothing was killed or removed" in text
    assert "task import-v2" in text
    many = refusal("watch", 0, [f"{n:08x}" for n in range(8)])
    assert many is not None and "and 3 more" in many and many.startswith("ttal watch")


def _live_worker(make_box: Callable[..., Box], tmp_path: Path) -> tuple[Box, str]:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Live work", "project:api")
    box.ttal("go", uuid, check=True)
    assert f"w-{uuid[:8]}" in box.sessions()
    return box, uuid


def _empty_taskwarrior(box: Box) -> None:
    """The data moved away: Taskwarrior now answers `[]` with exit 0, as 3.x does over 2.x
    data before `task import-v2`."""
    data = box.sb.task_data
    shutil.move(data, data.with_name(data.name + ".away"))
    data.mkdir()
    assert json.loads(box.task("export", "rc.json.array=on").stdout or "[]") == []


def test_gc_refuses_when_taskwarrior_shows_nothing_but_a_worker_is_live(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, uuid = _live_worker(make_box, tmp_path)
    tree = by_hand.worktree(box, uuid)
    before = (sorted(box.sessions()), by_hand.branches(box, "api"))
    _empty_taskwarrior(box)
    for args in (["--dry-run"], []):
        proc = box.ttal("gc", *args)
        assert proc.returncode != 0, proc.stdout
        text = proc.stdout + proc.stderr
        assert "no tasks at all" in text and "task import-v2" in text, text
        assert uuid[:8] in text and "nothing was killed or removed" in text
        assert (sorted(box.sessions()), by_hand.branches(box, "api")) == before
        assert tree.is_dir()
    # Its session gone too: the worktree ttal made for it is evidence enough.
    subprocess.run(["tmux", "-L", box.sb.socket, "kill-session", "-t", f"w-{uuid[:8]}"],
                   check=True)  # fmt: skip
    proc = box.ttal("gc")
    assert proc.returncode != 0 and "no tasks at all" in proc.stdout + proc.stderr
    assert tree.is_dir() and by_hand.branches(box, "api") == before[1]


def test_watch_and_recover_refuse_too_and_keep_ttals_memory(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """watch and recover would settle ttal's recorded writes as "purged by a person" and so
    forget them; they refuse instead, and the worker's session stays."""
    box, uuid = _live_worker(make_box, tmp_path)
    sql = "SELECT id, state FROM tw_writes ORDER BY id"
    _empty_taskwarrior(box)
    writes = by_hand.rows(box, sql)
    for args in (["watch", "--once"], ["recover"]):
        proc = box.ttal(*args)
        text = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "no tasks at all" in text, (args, text)
        assert f"ttal {args[0]} refused" in text and "task import-v2" in text
        assert f"w-{uuid[:8]}" in box.sessions()
        assert by_hand.rows(box, sql) == writes
