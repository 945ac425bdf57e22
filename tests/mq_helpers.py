"""A sandbox whose `web` project merges through the merge queue, and tasks driven by hand
to approval while the queue is held, so they pile up as they would behind a long check."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import by_hand
from tests.by_hand import reviewer_env, worker_env
from tests.conftest import Box, wait_for
from tests.test_crash import continuations
from ttal.adapters import locks, sandbox

# Every name a file in calls/ names must be defined in lib.txt: a rename and a new caller
# each pass alone and fail together. BROKEN breaks it; SLOW and HANG slow it down.
CHECK = """\
#!/bin/sh
if [ -e HANG ]; then trap '' INT TERM; echo "hanging"; sleep 600 & wait; fi
if [ -e SLOW ]; then echo "slow check: sleeping"; sleep "$(cat SLOW)"; fi
if [ -e BROKEN ]; then echo "FAIL: BROKEN is here"; exit 1; fi
for f in calls/*; do
  n=$(cat "$f")
  grep -qx "def $n" lib.txt || { echo "FAIL: $f calls $n, which lib.txt does not define"; exit 1; }
done
echo "ok: every call is defined"
"""
FILES = {"lib.txt": "def greet\n", "calls/main": "greet\n", "check.sh": CHECK,
         "README.md": "# web\n"}  # fmt: skip


def queue_box(make_box: Callable[..., Box], tmp_path: Path, check: str = "sh check.sh",
              both: bool = False, **keys: object) -> Box:  # fmt: skip
    """An idle-agents box whose web project (and api, with `both`) has `check` and the
    given merge-queue keys."""
    script = tmp_path / "idle.yaml"
    script.write_text(by_hand.IDLE, encoding="utf-8")
    api = FILES if both else {"README.md": "# api\n"}
    box = make_box(worker_script=script, reviewer_script=script, repos={"web": FILES, "api": api})
    text = box.sb.config.read_text(encoding="utf-8")
    lines = "".join(f"    {k}: {v}\n" for k, v in {"check": check, **keys}.items() if v)
    for name in ("web", "api") if both else ("web",):
        block = f"  {name}:\n    repo: {box.sb.repos[name]}\n    base: main\n"
        text = text.replace(block, block + lines)
    box.sb.config.write_text(text, encoding="utf-8")
    return box


def slot(box: Box) -> Path:
    return box.sb.state_dir / "locks" / "merge-queue-web-0.lock"


@contextmanager
def queue_held(box: Box) -> Iterator[None]:
    """Hold the queue's check slot, as a running check would: approvals only queue."""
    with locks.held(slot(box)):
        yield


def approved(box: Box, title: str, files: dict[str, str | None], uuid: str = "") -> str:
    """A task (new in web, or `uuid`) driven to approval with one commit of `files` (None
    deletes one)."""
    uuid = uuid or box.add(title, "project:web")
    box.ttal("go", uuid, check=True)
    tree = by_hand.worktree(box, uuid)
    for name, text in files.items():
        path = tree / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    sandbox.git(tree, "add", "-A")
    sandbox.git(tree, "commit", "-qm", title)
    box.ttal("go", env=worker_env(uuid), check=True)
    box.ttal("review", "approve", env=reviewer_env(uuid), check=True)
    wait_for(lambda: not continuations(uuid), timeout=60, what="background go to end")
    return uuid


def commit_to_main(box: Box, files: dict[str, str | None], message: str) -> None:
    """A person's commit of `files` (None deletes one) on web's main, in its checkout."""
    repo = box.sb.repos["web"]
    for name, text in files.items():
        if text is None:
            (repo / name).unlink()
        else:
            (repo / name).write_text(text, encoding="utf-8")
    sandbox.git(repo, "add", "-A")
    sandbox.git(repo, "commit", "-qm", message)


def queued(box: Box) -> list[tuple[str, str]]:
    return [(t[:8], s) for t, s in by_hand.rows(
        box, "SELECT task, state FROM merge_queue ORDER BY ts")]  # fmt: skip


def runs(box: Box) -> list[tuple[int, str, int]]:
    """(id, state, number of tested branches) of every check run."""
    found = by_hand.rows(box, "SELECT id, state, tested FROM check_runs ORDER BY id")
    return [(i, s, t.count(",") + 1 if t != "[]" else 0) for i, s, t in found]


def main_subjects(box: Box, project: str = "web") -> list[str]:
    return box.git(project, "log", "--first-parent", "--format=%s", "main").splitlines()


def on_main(box: Box, path: str) -> str:
    return sandbox.git(box.sb.repos["web"], "show", f"main:{path}")


def check_processes(box: Box) -> list[int]:
    """Processes of this box's checks still alive (their environment names a check run)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if b"TTAL_CHECK_RUN=" in env and cwd.startswith(str(box.sb.root)):
            found.append(int(pid))
    return found
