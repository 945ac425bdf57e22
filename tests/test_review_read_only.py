"""A review lead is read-only in effect, not only in its tools: its verdict is refused (exit
17) when the worktree it reviews has uncommitted changes or a HEAD other than the commit its
round began with, and nothing is changed or removed. Driven by hand, with idle agents."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import by_hand
from tests.by_hand import commit, reviewer_env, worker_env
from tests.conftest import Box
from tests.test_go_refusals import assert_refused
from ttal.adapters import sandbox
from ttal.errors import Exit


def in_review(make_box: Callable[..., Box], tmp_path: Path) -> tuple[Box, str, str]:
    """A task whose worker committed and ran `ttal go`: its review lead is up. Returns the
    box, the task and the commit under review."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Edit the notes", "project:api")
    box.ttal("go", uuid, check=True)
    head = commit(box, uuid, "notes.txt", "the worker's notes\n")
    box.ttal("go", uuid, env=worker_env(uuid), check=True)
    assert box.get(uuid)["ttal_review"] == f"reviewing:{head}"  # the round is pinned
    return box, uuid, head


def write_untracked(tree: Path) -> None:
    (tree / "fix.py").write_text("print('the reviewer was here')\n", encoding="utf-8")


def edit_tracked(tree: Path) -> None:
    (tree / "notes.txt").write_text("rewritten by the reviewer\n", encoding="utf-8")


def commit_on_top(tree: Path) -> None:
    (tree / "fix.py").write_text("print('the reviewer was here')\n", encoding="utf-8")
    sandbox.git(tree, "add", "fix.py")
    sandbox.git(tree, "commit", "-qm", "Reviewer's own fix")


VERDICTS = {
    "approve": ["review", "approve", "--note", "fine"],
    "changes": ["review", "changes", "add a test"],
}
WRITES = {
    "untracked-file": (write_untracked, "has changes that are not in the commit under review"),
    "tracked-edit": (edit_tracked, "notes.txt"),
    "own-commit": (commit_on_top, "moved during this review round"),
}


def test_a_verdict_on_a_changed_worktree_is_refused(
    make_box: Callable[..., Box], tmp_path: Path, subtests: pytest.Subtests
) -> None:
    box, uuid, head = in_review(make_box, tmp_path)
    tree = by_hand.worktree(box, uuid)
    for write, (change, says) in WRITES.items():
        for verdict, argv in VERDICTS.items():
            with subtests.test(f"{write}-{verdict}"):
                change(tree)
                files = {p.name: p.read_text() for p in tree.iterdir() if p.is_file()}
                tip = sandbox.git(tree, "rev-parse", "HEAD").strip()
                before = by_hand.world(box)

                proc = box.ttal(*argv, env=reviewer_env(uuid))
                assert_refused(proc, Exit.READ_ONLY, says)
                assert f"{verdict} refused: nothing was changed or removed" in proc.stderr
                assert by_hand.world(box) == before  # no tag, no round, no message
                assert box.get(uuid)["ttal_review"] == f"reviewing:{head}"
                # Nothing lost: what the review lead wrote is still there, as it wrote it.
                assert {p.name: p.read_text() for p in tree.iterdir() if p.is_file()} == files
                assert sandbox.git(tree, "rev-parse", "HEAD").strip() == tip
            sandbox.git(tree, "reset", "-q", "--hard", head)  # undone for the next case
            sandbox.git(tree, "clean", "-fdq")


def test_rounds_are_pinned_and_an_undone_commit_lets_the_verdict_through(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, uuid, _head = in_review(make_box, tmp_path)
    box.ttal("review", "changes", "add a test", env=reviewer_env(uuid), check=True)
    second = commit(box, uuid, "test_notes.txt", "assert notes\n")
    box.ttal("go", uuid, env=worker_env(uuid), check=True)
    assert box.get(uuid)["ttal_review"] == f"reviewing:{second}"  # round 2, its own commit

    tree = by_hand.worktree(box, uuid)
    commit_on_top(tree)
    refused = box.ttal("review", "approve", env=reviewer_env(uuid))
    assert refused.returncode == Exit.READ_ONLY, refused.stderr
    assert "Reviewer's own fix" in refused.stderr
    assert f"git reset --keep {second[:10]}" in refused.stderr

    sandbox.git(tree, "reset", "-q", "--keep", second[:10])  # as the hint says
    box.ttal("review", "approve", "--note", "fine", env=reviewer_env(uuid), check=True)
    task = box.get(uuid)
    assert task["ttal_reviewed"] == second and "lgtm" in task["tags"]
