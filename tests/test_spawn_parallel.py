"""Spawns run in parallel where they are independent; the limits stay exact.

Only the decision (count, check the limits, take a slot) is serialised; the worktree, the
session and the task's facts of one spawn no longer wait for another's. Overlap is shown
without timing: one spawn is held inside its spawn by a pause point (ttal.faults, TTAL_PAUSE)
while others run to the end. With one lock around every spawn (before issue 14) they
waited for it, and this test timed out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml

from tests import by_hand
from tests.conftest import Box, wait_for
from ttal.errors import Exit

Popen = subprocess.Popen[str]


def limited_box(make_box: Callable[..., Box], tmp_path: Path, total: int, api: int) -> Box:
    box = by_hand.idle_box(make_box, tmp_path)
    cfg = yaml.safe_load(box.sb.config.read_text(encoding="utf-8"))
    cfg["limits"] = {**cfg.get("limits", {}), "max_workers": total}
    cfg["projects"]["api"]["max_workers"] = api
    box.sb.config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return box


def go(box: Box, uuid: str, env: dict[str, str] | None = None) -> Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ttal", "go", uuid, "--json"], env={**box.env, **(env or {})},
        text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def finish(proc: Popen, timeout: float = 60) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def workers(box: Box) -> list[str]:
    return [s for s in box.sessions() if s.startswith("w-")]


def test_a_spawn_held_inside_its_spawn_holds_up_no_other(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = limited_box(make_box, tmp_path, total=8, api=2)
    held, same_repo, other_repo, over = (
        box.add(f"Task {n}", f"project:{p}") for n, p in enumerate(["api", "api", "web", "api"])
    )
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    first = go(box, held, {"TTAL_PAUSE": "spawn.facts", "TTAL_PAUSE_DIR": str(pauses)})
    wait_for(lambda: list(pauses.glob("spawn.facts.*")), 60, "the first spawn to pause")

    # Held inside its spawn (its slot taken, its facts written, no worktree yet): the others
    # spawn to the end meanwhile, in its repo and in another.
    for uuid in (same_repo, other_repo):
        code, out = finish(go(box, uuid), timeout=60)
        assert code == 0 and "spawned worker" in out, out
    # Its slot counts: api's max_workers (2) is taken by it and same_repo.
    code, out = finish(go(box, over))
    assert code == Exit.WAITING and "max_workers" in out, out
    assert f"w-{held[:8]}" not in box.sessions()

    (pauses / "go").touch()
    code, out = finish(first)
    assert code == 0 and "spawned worker" in out, out
    order = [task for (task,) in by_hand.rows(box, "SELECT task FROM events WHERE kind = "
                                                   "'spawned' ORDER BY id")]  # fmt: skip
    assert order == [same_repo, other_repo, held]  # two whole spawns inside the first one
    assert sorted(workers(box)) == sorted(f"w-{u[:8]}" for u in (held, same_repo, other_repo))
    assert by_hand.rows(box, "SELECT COUNT(*) FROM spawning") == [(0,)]  # every slot freed


def test_concurrent_spawns_in_two_repos_keep_the_limits(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """Eight tasks in two repos, each `ttal go` twice, all at once: limits.max_workers 5 and
    api's max_workers 2 hold exactly, and no task gets two workers."""
    box = limited_box(make_box, tmp_path, total=5, api=2)
    tasks = {box.add(f"Task {n}", f"project:{p}"): p for n, p in enumerate(["api", "web"] * 4)}
    procs = [go(box, uuid) for uuid in tasks for _ in range(2)]
    results = [finish(p, timeout=180) for p in procs]
    assert {code for code, _ in results} <= {0, int(Exit.WAITING)}, results

    spawned = Counter(task for (task,) in by_hand.rows(
        box, "SELECT task FROM events WHERE kind = 'spawned'"))  # fmt: skip
    assert max(spawned.values()) == 1, spawned  # no duplicate
    running = {s[2:] for s in workers(box)}
    per_project = Counter(p for uuid, p in tasks.items() if uuid[:8] in running)
    assert len(running) == 5 and per_project["api"] <= 2, per_project  # exact, none over
    assert set(spawned) == {u for u in tasks if u[:8] in running}
    for project in ("api", "web"):
        assert len(by_hand.worktrees(box, project)) == per_project[project]
    queued = json.loads(box.ttal("status", "--json", check=True).stdout)["queue"]
    assert sorted(q["task"] for q in queued) == sorted(u for u in tasks if u[:8] not in running)
    assert by_hand.rows(box, "SELECT COUNT(*) FROM spawning") == [(0,)]
