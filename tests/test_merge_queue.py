"""The merge queue with real git, real checks (small shell scripts) and idle scripted
agents: the base only ever moves to a tree whose check passed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.mq_helpers import (
    approved,
    check_processes,
    main_subjects,
    on_main,
    queue_box,
    queue_held,
    queued,
    runs,
)
from ttal.adapters import sandbox
from ttal.adapters.proc import group_members
from ttal.errors import Exit

RENAME = {"lib.txt": "def hello\n", "calls/main": "hello\n"}
CALLER = {"calls/extra": "greet\n"}


def test_a_rename_and_a_new_caller_never_reach_main_together(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path, batch=2)
    with queue_held(box):
        rename = approved(box, "Rename greet to hello", RENAME)
        caller = approved(box, "Call greet from extra", CALLER)
        assert queued(box) == [(rename[:8], "queued"), (caller[:8], "queued")]
    proc = box.ttal("go", caller)
    assert proc.returncode == Exit.CONFLICT, proc.stdout + proc.stderr
    assert "check run #3 failed" in proc.stdout + proc.stderr
    # Together red, then the first half alone green (merged), then the second red alone.
    assert runs(box) == [(1, "split", 2), (2, "merged", 1), (3, "returned", 1)]
    assert on_main(box, "lib.txt") == "def hello\n"
    assert "calls/extra" not in box.git("web", "ls-tree", "-r", "--name-only", "main")
    assert "merged" in box.get(rename)["tags"] and "merged" not in box.get(caller)["tags"]
    told = by_hand.rows(box, "SELECT recipient, body FROM messages WHERE body LIKE "
                        "'%merge queue%' AND task = ? ORDER BY id", caller)  # fmt: skip
    assert [r for r, _ in told] == ["human", f"w-{caller[:8]}"]
    assert "FAIL: calls/extra calls greet" in told[0][1] and "run-3.log" in told[0][1]
    assert any("check run #3" in a for a in by_hand.annotations(box, caller))
    assert queued(box)[-1] == (caller[:8], "returned")
    # The merge names the run that proved it; the event log has the check's result.
    body = box.git("web", "log", "-1", "--format=%B", "main")
    assert "check run #2 passed (sh check.sh)" in body
    assert by_hand.events(box, "check-failed", caller)
    merged = by_hand.rows(box, "SELECT body FROM messages WHERE task = ?", rename)
    assert len(merged) == 1 and "proved by the merge queue's check run #2" in merged[0][0]
    # Going again without a fix is refused, changing nothing.
    again = box.ttal("go", caller)
    assert again.returncode == Exit.CONFLICT and "no new commit" in again.stderr
    assert len(runs(box)) == 3
    box.ttal("deliver", "--once", check=True)  # finishes the merged task
    assert box.get(rename)["status"] == "completed"


def test_a_project_without_check_merges_as_before(box: Box) -> None:
    assert box.ttal("status").returncode == 0
    assert by_hand.rows(box, "SELECT name FROM sqlite_master WHERE name = 'check_runs'") == []


def test_a_batch_of_eight_green_costs_one_run_and_one_bad_in_eight_is_found(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path, batch=8)
    with queue_held(box):
        good = [approved(box, f"Note {i}", {f"notes/{i}.txt": f"{i}\n"}) for i in range(8)]
    box.ttal("go", good[0], check=True)
    assert runs(box) == [(1, "merged", 8)]
    assert all("merged" in box.get(u)["tags"] for u in good)
    merges = box.git("web", "log", "--merges", "--format=%s", "main").splitlines()
    assert len(merges) == 8  # one merge commit per task, the base moved once
    assert box.git("web", "reflog", "--format=%gs", "main").count("merge queue") == 1
    # The run's driver finishes the other seven in the background: let their `task done`s
    # land before this test adds tasks (on 2.6 a write beside them can drop a `task add`).
    wait_for(lambda: all(box.get(u)["status"] == "completed" for u in good), 60, "all done")

    with queue_held(box):
        second = [
            approved(box, f"More {i}", {f"more/{i}.txt": f"{i}\n", **broken(i == 5)})
            for i in range(8)
        ]
    bad = second[5]
    box.ttal("go", second[0], check=True)
    later = runs(box)[1:]
    assert [t for _, s, t in later if s == "returned"] == [1]
    assert 1 <= len(later) - 1 <= 6, later  # 2·log2(8) extra runs at most
    merged = [u for u in second if "merged" in box.get(u)["tags"]]
    assert merged == [u for u in second if u != bad]
    assert (bad[:8], "returned") in queued(box)
    assert by_hand.events(box, "merge-returned", bad)
    note = by_hand.rows(box, "SELECT body FROM messages WHERE task = ? AND recipient = 'human' "
                        "AND body LIKE '%merge queue%'", bad)  # fmt: skip
    assert len(note) == 1 and "FAIL: BROKEN is here" in note[0][0]
    tree_files = box.git("web", "ls-tree", "-r", "--name-only", "main")
    assert "BROKEN" not in tree_files and "more/7.txt" in tree_files


def broken(yes: bool) -> dict[str, str]:
    return {"BROKEN": "x\n"} if yes else {}


def test_a_hanging_check_is_killed_at_its_timeout_with_its_processes(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path, check_timeout="2s")
    with queue_held(box):
        uuid = approved(box, "Hang the check", {"HANG": "1\n"})
    proc = box.ttal("go", uuid)
    assert proc.returncode == Exit.CONFLICT, proc.stdout + proc.stderr
    assert "timed out after" in proc.stdout + proc.stderr
    assert runs(box) == [(1, "returned", 1)]
    pgid = by_hand.rows(box, "SELECT pgid FROM check_runs")[0][0]
    assert pgid and group_members(pgid) == [] and check_processes(box) == []
    assert by_hand.events(box, "check-timed-out", uuid)
    assert "hanging" in (box.sb.state_dir / "checks" / "run-1.log").read_text(encoding="utf-8")
    assert not (box.sb.state_dir / "checks" / "run-1").exists()  # its worktree is gone
    assert main_subjects(box) == ["Initial commit"]


def test_a_push_to_the_base_during_a_check_means_a_rebuild(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path)
    with queue_held(box):
        uuid = approved(box, "Slow check", {"SLOW": "4\n", "notes.txt": "n\n"})
    argv = [sys.executable, "-m", "ttal", "go", uuid]
    driver = subprocess.Popen(argv, env=box.env, stdout=subprocess.PIPE, text=True)
    wait_for(lambda: runs(box) and runs(box)[0][1] == "running", what="the check to run")
    # What a person sees meanwhile: the running check, its task and its last output line.
    shown = wait_for(lambda: "slow check: sleeping" in (out := box.ttal("status").stdout) and out,
                     what="the live line in ttal status")  # fmt: skip
    assert "Merge queue" in shown and "checking #1" in shown and uuid[:8] in shown
    repo = box.sb.repos["web"]
    (repo / "person.txt").write_text("mine\n", encoding="utf-8")
    sandbox.git(repo, "add", "person.txt")
    sandbox.git(repo, "commit", "-qm", "A person's commit")
    out, _ = driver.communicate(timeout=120)
    assert driver.returncode == 0, out
    assert [s for _, s, _ in runs(box)] == ["stale", "merged"]
    assert main_subjects(box)[1] == "A person's commit"
    assert main_subjects(box)[0].startswith("Merge ttal/")
    # The merge that landed is the one the second run checked, on the person's commit.
    result = by_hand.rows(box, "SELECT result FROM check_runs WHERE id = 2")[0][0]
    assert box.git("web", "rev-parse", "main").strip() == result
    assert by_hand.events(box, "check-stale", uuid)


def test_deliver_drives_a_queue_nobody_drives_then_finishes_its_tasks(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path)
    with queue_held(box):
        uuid = approved(box, "Write notes", {"notes.txt": "n\n"})
    assert queued(box) == [(uuid[:8], "queued")]  # its `ttal go` found the queue busy
    box.ttal("deliver", "--once", check=True)  # starts a driver in the background
    wait_for(lambda: "merged" in box.get(uuid).get("tags", []), 60, "the queue to merge it")
    wait_for(lambda: box.ttal("deliver", "--once", check=True) and
             box.get(uuid)["status"] == "completed", 60, "deliver to finish the task")  # fmt: skip
    assert queued(box) == [] and runs(box) == [(1, "merged", 1)]
    assert by_hand.worktrees(box, "web") == [] and main_subjects(box)[0].startswith("Merge ")


def test_the_tasks_a_run_merges_are_finished_without_a_watch(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """The first task's own `ttal go` found the queue busy and ended; the second's drove a
    run that merged both. The first must still be cleaned up and done, with no `ttal watch`
    (before: it waited, +merged and pending, for the next pass; the demo timed out so)."""
    box = queue_box(make_box, tmp_path, batch=2)
    with queue_held(box):
        first = approved(box, "Write notes", {"notes.txt": "n\n"})
        second = approved(box, "Write more notes", {"more.txt": "m\n"})
    box.ttal("go", second, check=True)
    assert runs(box) == [(1, "merged", 2)]
    wait_for(lambda: box.get(first)["status"] == "completed", 30, "the first task finished")
    assert box.get(second)["status"] == "completed"
    wait_for(lambda: not box.sessions(), 30, "both tasks' sessions cleaned up")
