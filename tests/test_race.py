"""Racing `ttal go` calls on one task take turns on its lock: exactly one worker results."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.conftest import Box

RACERS = 16


def test_racing_go_spawns_one_worker(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Race for the worker", "project:api")
    short = uuid[:8]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ttal", "go", uuid],
            env=box.env,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(RACERS)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]

    for code, out, err in results:
        assert code == 0, f"exit {code}\n{out}\n{err}"
    assert sum("spawned worker" in out for _, out, _ in results) == 1
    assert box.sessions() == [f"w-{short}"]
    assert len(by_hand.worktrees(box, "api")) == 1
    ours = [b for b in by_hand.branches(box, "api") if b.startswith(f"ttal/{short}-")]
    assert len(ours) == 1, ours
    assert len(by_hand.events(box, "spawned", uuid)) == 1
    task = box.get(uuid)
    assert task["ttal_session"] == f"w-{short}"
    assert task["ttal_branch"] == ours[0].split()[0]
    assert by_hand.worktrees(box, "api") == [task["ttal_worktree"]]
