"""`ttal gc`: what finished tasks left behind goes; a pending task's things, a manager's
session, uncommitted work and commits not on base stay. Real task, git and tmux."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.by_hand import commit, world
from tests.conftest import Box, wait_for
from ttal.adapters import locks

HOLD = """import sys; from pathlib import Path; from ttal.adapters import locks
with locks.held(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@dataclass
class Scene:
    box: Box
    tasks: dict[str, str]  # role in the scene -> task uuid
    branches: dict[str, str]  # role -> branch name
    tips: dict[str, str]  # role -> branch tip
    trees: dict[str, Path]  # role -> worktree
    lock_dir: Path
    holder: subprocess.Popen[str]

    def session(self, role: str) -> str:
        return f"w-{self.tasks[role][:8]}"

    def gc(self, *args: str) -> list[dict[str, Any]]:
        proc = self.box.ttal("gc", "--json", *args, check=True)
        items: list[dict[str, Any]] = json.loads(proc.stdout)
        return items


def _tmux(box: Box, *args: str) -> None:
    subprocess.run(["tmux", "-L", box.sb.socket, *args], check=True, capture_output=True)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def scene(make_box: Callable[..., Box], tmp_path: Path) -> Iterator[Scene]:
    """Four spawned tasks: `live` (pending), `merged` (done, branch merged by hand),
    `unmerged` (done, commits not on main), `dirty` (deleted, uncommitted file). Plus an
    orphan worker session, a stray review session, a manager's session and lock files."""
    script = tmp_path / "idle.yaml"
    script.write_text(by_hand.IDLE, encoding="utf-8")
    box = make_box(worker_script=script, reviewer_script=script,
                   agents_yaml="boss: {role: manager, runtime: scripted-worker}")  # fmt: skip
    tasks, branches, tips, trees = {}, {}, {}, {}
    for role in ("live", "merged", "unmerged", "dirty"):
        uuid = tasks[role] = box.add(f"gc {role} work", "project:api")
        box.ttal("go", uuid, check=True)
        tips[role] = commit(box, uuid, f"{role}.txt", f"{role}\n")
        branches[role], trees[role] = box.get(uuid)["ttal_branch"], by_hand.worktree(box, uuid)
    # The idle agents report idle once (taking a lock, writing the database): let them settle.
    logs = [box.sb.state_dir / "run" / f"w-{uuid[:8]}.log" for uuid in tasks.values()]
    wait_for(lambda: all("reported idle" in _read(log) for log in logs), what="idle workers")
    box.git("api", "merge", "--no-ff", "-qm", "Merge by hand", branches["merged"])
    (trees["dirty"] / "wip.txt").write_text("not committed\n", encoding="utf-8")
    for role, verb in (("merged", "done"), ("unmerged", "done"), ("dirty", "delete")):
        assert box.task(tasks[role], verb).returncode == 0
    _tmux(box, "new-session", "-d", "-s", "w-deadbeef", "sleep 600")
    _tmux(box, "new-session", "-d", "-s", f"r-{tasks['unmerged'][:8]}-implement", "sleep 600")
    _tmux(box, "new-session", "-d", "-s", "boss", "sleep 600")
    lock_dir = box.sb.state_dir / "locks"
    (lock_dir / "task-stale.lock").write_text(str(_dead_pid()), encoding="utf-8")
    (lock_dir / "live-holder.lock").write_text(str(os.getpid()), encoding="utf-8")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_dir / "held.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield Scene(box, tasks, branches, tips, trees, lock_dir, holder)
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=10)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _locks(scene: Scene) -> dict[str, str]:
    """Lock files and the pid in each; gc writes its own pid in the repo locks it takes."""
    found = {p.name: p.read_text(encoding="utf-8") for p in scene.lock_dir.glob("*.lock")}
    return {k: "(gc)" if k.startswith("repo-") else v for k, v in found.items()}


def _refs(scene: Scene) -> str:
    return scene.box.git("api", "for-each-ref", "--format=%(refname) %(objectname)")


def _snapshot(scene: Scene) -> tuple[dict[str, Any], dict[str, str], str]:
    return world(scene.box), _locks(scene), _refs(scene)


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{i['kind']}:{i['name']}": i for i in items}


def _expected(scene: Scene) -> dict[str, str]:
    """kind:name -> action, for everything but the locks ttal's own commands left."""
    t, b, w = scene.tasks, scene.branches, scene.trees
    return {
        f"session:{scene.session('merged')}": "kill",
        f"session:{scene.session('unmerged')}": "kill",
        f"session:{scene.session('dirty')}": "kill",
        f"session:r-{t['unmerged'][:8]}-implement": "kill",
        "session:w-deadbeef": "kill",
        f"worktree:{os.path.realpath(w['merged'])}": "remove",
        f"worktree:{os.path.realpath(w['unmerged'])}": "remove",
        f"worktree:{os.path.realpath(w['dirty'])}": "keep",
        f"branch:{b['merged']}": "delete",
        f"branch:{b['unmerged']}": "archive",
        f"branch:{b['dirty']}": "keep",
        "lock:task-stale.lock": "remove",
    }


def _check_plan(scene: Scene, items: list[dict[str, Any]]) -> None:
    found = _by_name(items)
    for key, action in _expected(scene).items():
        assert found.get(key, {}).get("action") == action, (key, found.get(key))
    others = {k: v for k, v in found.items() if k not in _expected(scene)}
    # The rest are locks ttal's own (finished) commands left: never the held or live ones.
    assert all(k.startswith("lock:") and v["action"] == "remove" for k, v in others.items())
    assert not {"lock:held.lock", "lock:live-holder.lock"} & set(found)
    unmerged = found[f"branch:{scene.branches['unmerged']}"]
    assert unmerged["ref"] == f"refs/ttal/archive/{scene.branches['unmerged']}"
    assert unmerged["ref"] in unmerged["reason"] and "1 commit(s) not on main" in unmerged["reason"]
    dirty = found[f"worktree:{os.path.realpath(scene.trees['dirty'])}"]
    assert "uncommitted changes (wip.txt)" in dirty["reason"]
    assert found["session:w-deadbeef"]["reason"] == "no task deadbeef"
    assert found[f"session:{scene.session('dirty')}"]["reason"].endswith("deleted")


def test_gc_dry_run_then_real_run_then_no_op(scene: Scene) -> None:
    """One scene for the three runs: building it (four spawns) is most of the time."""
    planned = _dry_run_changes_nothing(scene)
    tasks_before = world(scene.box)["tasks"]
    items = scene.gc()
    assert items == planned  # the dry run showed exactly what went
    _check_plan(scene, items)
    _check_after_real_run(scene)
    assert world(scene.box)["tasks"] == tasks_before
    _second_run_is_a_no_op(scene)


def _dry_run_changes_nothing(scene: Scene) -> list[dict[str, Any]]:
    before = _snapshot(scene)
    items = scene.gc("--dry-run")
    assert _snapshot(scene) == before
    _check_plan(scene, items)
    table = scene.box.ttal("gc", "--dry-run", check=True).stdout
    assert _snapshot(scene) == before
    assert "nothing was changed" in table.splitlines()[0]
    assert f"refs/ttal/archive/{scene.branches['unmerged']}" in table
    assert "KIND" in table and "w-deadbeef" in table
    return items


def _check_after_real_run(scene: Scene) -> None:
    box, b, tips = scene.box, scene.branches, scene.tips
    assert sorted(box.sessions()) == sorted(["boss", scene.session("live")])
    assert not scene.trees["merged"].exists() and not scene.trees["unmerged"].exists()
    assert (scene.trees["dirty"] / "wip.txt").read_text(encoding="utf-8") == "not committed\n"
    assert sorted(by_hand.worktrees(box, "api")) == sorted(
        os.path.realpath(scene.trees[r]) for r in ("live", "dirty")
    )
    heads = dict(line.split() for line in by_hand.branches(box, "api"))
    assert heads == {"main": heads["main"], b["live"]: tips["live"], b["dirty"]: tips["dirty"]}
    archived = box.git("api", "rev-parse", f"refs/ttal/archive/{b['unmerged']}").strip()
    assert archived == tips["unmerged"]
    remaining = _locks(scene)
    assert "task-stale.lock" not in remaining
    assert remaining["held.lock"] == str(scene.holder.pid)
    assert remaining["live-holder.lock"] == str(os.getpid())
    done = by_hand.events(box, "gc", scene.tasks["unmerged"])
    assert any(b["unmerged"] in e and "archive" in e for e in done)


def _second_run_is_a_no_op(scene: Scene) -> None:
    before = _snapshot(scene)
    again = scene.gc()
    assert _snapshot(scene) == before
    assert {i["action"] for i in again} == {"keep"}
    assert set(_by_name(again)) == {
        f"worktree:{os.path.realpath(scene.trees['dirty'])}",
        f"branch:{scene.branches['dirty']}",
    }


def test_a_waiter_on_a_removed_lock_file_locks_the_new_one(tmp_path: Path) -> None:
    """gc unlinks a stale lock file while holding it; a process that opened the file just
    before must not end up holding the unlinked inode beside a holder of the new file."""
    path = tmp_path / "x.lock"
    path.write_text("1", encoding="utf-8")
    gc_fd = os.open(path, os.O_RDONLY)
    fcntl.flock(gc_fd, fcntl.LOCK_EX)
    inside = threading.Event()
    release = threading.Event()

    def waiter() -> None:
        with locks.held(path):
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_for(lambda: _fd_open_on(path, exclude=gc_fd), what="the waiter opening the lock file")
    path.unlink()
    os.close(gc_fd)
    assert inside.wait(10)
    probe = os.open(path, os.O_RDWR | os.O_CREAT)  # as the next process would: no 2nd holder
    with pytest.raises(BlockingIOError):
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(probe)
    release.set()
    thread.join(10)


def _fd_open_on(path: Path, exclude: int) -> bool:
    fds = Path("/proc/self/fd")
    for fd in fds.iterdir():
        try:
            if int(fd.name) != exclude and os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False
