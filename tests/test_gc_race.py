"""`ttal gc` beside a working fleet: it decides each worktree, branch and session under the
task's lock with a fresh read, so a task spawned while gc waits for a slow session to die
keeps everything (issue 15, item 3). Files git ignores (a worker's .env) are never deleted
without being named. Real task, git and tmux."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.by_hand import commit
from tests.conftest import Box, wait_for
from ttal.adapters import locks

ROUNDS = 10 if os.environ.get("TTAL_SOAK") else 2

# A pane process that takes its time to exit: on SIGHUP or SIGTERM it says so, then stays
# until the test releases it (or 10 s pass), as an agent flushing its state would.
SLOW = """import pathlib, signal, sys, time
said, release = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def later(*_):
    signal.signal(signal.SIGHUP, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN)
    said.write_text("signalled")
    deadline = time.monotonic() + 10
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    sys.exit(0)
signal.signal(signal.SIGHUP, later); signal.signal(signal.SIGTERM, later)
while True:
    time.sleep(1)
"""

HOLD = """import sys; from pathlib import Path; from ttal.adapters import locks
with locks.held(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def _tmux(box: Box, *args: str) -> None:
    subprocess.run(["tmux", "-L", box.sb.socket, *args], check=True, capture_output=True)


def _start_gc(box: Box, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ttal", "gc", "--json", *args], env=box.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finish(gc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, err = gc.communicate(timeout=60)
    assert gc.returncode == 0, err
    items: list[dict[str, Any]] = json.loads(out)
    return items


def _slow_session(box: Box, tmp_path: Path) -> tuple[Path, Path]:
    """An orphan worker session (no task has its name) whose process exits slowly."""
    name = f"w-{secrets.token_hex(4)}"
    said, release = tmp_path / f"{name}.said", tmp_path / f"{name}.release"
    script = tmp_path / "slow.py"
    script.write_text(SLOW, encoding="utf-8")
    _tmux(box, "new-session", "-d", "-s", name, f"{sys.executable} {script} {said} {release}")
    return said, release


def _spawn(box: Box, title: str) -> dict[str, Any]:
    """A person adds a task and starts it; the worker commits its first work."""
    uuid = box.add(title, "project:api")
    box.ttal("go", uuid, check=True)
    tip = commit(box, uuid, "first.txt", f"{title}\n", "First work")
    task = box.get(uuid)
    return {"uuid": uuid, "tip": tip, "branch": task["ttal_branch"],
            "worktree": task["ttal_worktree"], "session": f"w-{uuid[:8]}"}  # fmt: skip


def _survived(box: Box, worker: dict[str, Any]) -> None:
    """The worker's worktree, branch (at its tip) and session are all still there."""
    assert Path(worker["worktree"], "first.txt").is_file(), worker
    assert box.git("api", "rev-parse", f"refs/heads/{worker['branch']}").strip() == worker["tip"]
    archived = box.git("api", "for-each-ref", "refs/ttal/archive/")
    assert worker["branch"] not in archived, archived
    assert worker["session"] in box.sessions(), worker


def test_gc_waiting_on_a_slow_session_spares_a_task_spawned_meanwhile(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """Round after round: gc kills an orphan session that is slow to exit and waits for it;
    meanwhile a person adds a task and `ttal go` spawns it (names that collide with
    nothing). The new worker's worktree, branch and session survive that gc."""
    box = by_hand.idle_box(make_box, tmp_path)
    workers = []
    for round_ in range(ROUNDS):
        said, release = _slow_session(box, tmp_path)
        gc = _start_gc(box)
        _wait_signalled(gc, said)
        workers.append(_spawn(box, f"race round {round_}"))  # while gc waits
        release.touch()
        items = _finish(gc)
        for worker in workers:
            _survived(box, worker)
            touched = [i for i in items if worker["uuid"][:8] in i["name"] and i["kind"] != "lock"]
            assert all(i["action"] == "keep" for i in touched), touched


def _wait_signalled(gc: subprocess.Popen[str], said: Path) -> None:
    """gc has killed the slow session and waits for its process to exit."""
    wait_for(lambda: said.exists() or gc.poll() is not None, what="gc killing the session")
    assert gc.poll() is None, gc.communicate()


def _lock_holder(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _opened(pid: int, path: Path) -> bool:
    """Process pid has path open (gc waiting for its lock)."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize("first", ["session", "worktree", "branch"])
def test_gc_decides_with_a_fresh_read_under_the_task_lock(
    make_box: Callable[..., Box], tmp_path: Path, first: str
) -> None:
    """A finished task's things are doomed in gc's first look; while gc waits for the task's
    lock (a `ttal go` holds it) at the first of them, the task is taken up again. gc must
    read it afresh under the lock and keep its session, worktree and branch."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("taken up again", "project:api")
    box.ttal("go", uuid, check=True)
    task = box.get(uuid)
    tip = commit(box, uuid, "first.txt", "work\n")
    assert box.task(uuid, "done").returncode == 0
    if first != "session":  # gc's first wait for the lock is then at the worktree or branch
        _tmux(box, "kill-session", "-t", f"w-{uuid[:8]}")
    if first == "branch":
        box.git("api", "worktree", "remove", task["ttal_worktree"])
    lock = box.sb.state_dir / "locks" / f"task-{uuid}.lock"
    holder = _lock_holder(lock)
    gc = _start_gc(box)
    try:
        wait_for(lambda: _opened(gc.pid, lock) or gc.poll() is not None, what="gc at the lock")
        assert box.task(uuid, "modify", "status:pending").returncode == 0
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    items = _finish(gc)
    assert not [i for i in items if uuid[:8] in i["name"] and i["kind"] != "lock"], items
    assert box.git("api", "rev-parse", f"refs/heads/{task['ttal_branch']}").strip() == tip
    if first != "branch":
        assert Path(task["ttal_worktree"], "first.txt").is_file()
    if first == "session":
        assert f"w-{uuid[:8]}" in box.sessions()


@pytest.mark.skipif(not os.environ.get("TTAL_SOAK"), reason="waits 10 s; TTAL_SOAK=1 runs it")
def test_gc_keeps_a_busy_tasks_things_and_says_who_holds_it(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """A finished task's lock stays held (a hung command): gc waits for it (once: later
    things of a busy task are tried once more, not waited for), keeps the task's session,
    worktree and branch, and names the holder."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("busy", "project:api")
    box.ttal("go", uuid, check=True)
    assert box.task(uuid, "done").returncode == 0
    holder = _lock_holder(box.sb.state_dir / "locks" / f"task-{uuid}.lock")
    try:
        items = [i for i in _finish(_start_gc(box)) if uuid[:8] in i["name"]]
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    assert sorted(i["kind"] for i in items) == ["branch", "session", "worktree"], items
    assert all(i["action"] == "keep" and f"held by pid {holder.pid}" in i["reason"]
               for i in items), items  # fmt: skip
    assert f"w-{uuid[:8]}" in box.sessions()


@pytest.fixture
def finished_with_env(make_box: Callable[..., Box], tmp_path: Path) -> tuple[Box, Path]:
    """A finished task whose clean worktree holds ignored files: a .env and build state."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("ignored files", "project:api")
    box.ttal("go", uuid, check=True)
    tree = by_hand.worktree(box, uuid)
    commit(box, uuid, ".gitignore", ".env\nbuild/\n")
    box.git("api", "merge", "--no-ff", "-qm", "Merge by hand", box.get(uuid)["ttal_branch"])
    (tree / ".env").write_text("API_KEY=secret\n", encoding="utf-8")
    (tree / "build").mkdir()
    (tree / "build" / "state.bin").write_text("cache\n", encoding="utf-8")
    assert box.task(uuid, "done").returncode == 0
    return box, tree


def test_gc_names_ignored_files_and_keeps_them_unless_asked(
    finished_with_env: tuple[Box, Path],
) -> None:
    box, tree = finished_with_env
    key = os.path.realpath(tree)
    planned = {i["name"]: i for i in _finish(_start_gc(box, "--dry-run"))}[key]
    assert planned["action"] == "keep" and planned["ignored"] == [".env", "build/"], planned
    table = box.ttal("gc", "--dry-run", check=True).stdout
    assert ".env" in table and "--include-ignored" in table, table
    done = {i["name"]: i for i in _finish(_start_gc(box))}[key]
    assert done == planned  # the real run does what the dry run showed
    assert (tree / ".env").read_text(encoding="utf-8") == "API_KEY=secret\n"
    removed = {i["name"]: i for i in _finish(_start_gc(box, "--include-ignored"))}[key]
    assert removed["action"] == "remove" and removed["ignored"] == [".env", "build/"], removed
    assert not tree.exists()


def test_a_borrowed_lock_waits_a_while_and_leaves_no_trace(tmp_path: Path) -> None:
    """gc's task locks: busy gives up after the timeout; free holds it, writes no pid and
    removes the file it made; an existing file keeps its last holder's pid."""
    path = tmp_path / "task-x.lock"
    holder = _lock_holder(path)
    with locks.borrowed(path, timeout=0.2) as got:
        assert not got
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=10)
    assert path.read_text(encoding="utf-8") == str(holder.pid)
    with locks.borrowed(path, timeout=0.2) as got:
        assert got
    assert path.read_text(encoding="utf-8") == str(holder.pid)
    path.unlink()
    with locks.borrowed(path, timeout=0.2) as got:
        assert got and path.exists()
    assert not path.exists()
