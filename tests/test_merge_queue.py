"""The merge queue with real git, real checks (small shell scripts) and idle scripted
agents: the base only ever moves to a tree whose check passed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.conftest import Box
from tests.mq_helpers import approved, on_main, queue_box, queue_held, queued, runs
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
                        "'%merge queue%' ORDER BY id")  # fmt: skip
    assert [r for r, _ in told] == ["human", f"w-{caller[:8]}"]
    assert "FAIL: calls/extra calls greet" in told[0][1] and "run-3.log" in told[0][1]
    assert any("check run #3" in a for a in by_hand.annotations(box, caller))
    assert queued(box)[-1] == (caller[:8], "returned")
    # The merge names the run that proved it; the event log has the check's result.
    body = box.git("web", "log", "-1", "--format=%B", "main")
    assert "check run #2 passed (sh check.sh)" in body
    assert by_hand.events(box, "check-failed", caller)
    # Going again without a fix is refused, changing nothing.
    again = box.ttal("go", caller)
    assert again.returncode == Exit.CONFLICT and "no new commit" in again.stderr
    assert len(runs(box)) == 3
    box.ttal("deliver", "--once", check=True)  # finishes the merged task
    assert box.get(rename)["status"] == "completed"


def test_a_project_without_check_merges_as_before(box: Box) -> None:
    assert box.ttal("status").returncode == 0
    assert by_hand.rows(box, "SELECT name FROM sqlite_master WHERE name = 'check_runs'") == []
