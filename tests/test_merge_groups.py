"""A change across repos merged together (engine/merge_groups.py): a parent task whose
children are in web and api, each project with its check, neither with one, or only web
with one. Real git, real checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import by_hand
from tests.by_hand import reviewer_env, worker_env
from tests.conftest import Box, wait_for
from tests.mq_helpers import approved, main_subjects, queue_box, queued
from tests.test_crash import KILLED, continuations
from ttal.adapters import locks, sandbox

FINE = {"notes.txt": "n\n"}


def group(box: Box) -> tuple[str, str, str]:
    web = box.add("Rename in web", "project:web")
    api = box.add("Adapt api", "project:api")
    parent = box.add("Ship the rename", f"depends:{web},{api}")
    return parent, web, api


def merged(box: Box, uuid: str) -> bool:
    return "merged" in box.get(uuid).get("tags", [])


def test_a_group_merges_only_when_every_child_passed(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path, both=True)
    parent, web, api = group(box)
    approved(box, "Rename in web", FINE, uuid=web)
    assert queued(box) == [(web[:8], "queued")]  # waits for its sibling
    assert main_subjects(box, "web") == ["Initial commit"]
    approved(box, "Adapt api", {**FINE, "BROKEN": "x\n"}, uuid=api)
    # The api child's check failed: it alone goes back; web's child waits; no base moved.
    assert dict(queued(box)) == {web[:8]: "queued", api[:8]: "returned"}
    assert main_subjects(box, "web") == main_subjects(box, "api") == ["Initial commit"]
    assert by_hand.events(box, "merge-returned", api) and not merged(box, web)
    shown = box.ttal("status", check=True).stdout  # the group as one line, its children under it
    assert f"{parent[:8]}" in shown and f"└ {web[:8]}" in shown and f"└ {api[:8]}" in shown
    # The fix: a new commit, re-reviewed, approved: now both merge.
    tree = by_hand.worktree(box, api)
    (tree / "BROKEN").unlink()
    sandbox.git(tree, "commit", "-qam", "Unbreak the check")
    box.ttal("go", env=worker_env(api), check=True)
    box.ttal("review", "approve", env=reviewer_env(api), check=True)
    wait_for(lambda: not continuations(api), timeout=60, what="background go to end")
    assert merged(box, web) and merged(box, api)
    assert main_subjects(box, "web")[0].startswith("Merge ttal/")
    assert main_subjects(box, "api")[0].startswith("Merge ttal/")
    assert "BROKEN" not in box.git("api", "ls-tree", "-r", "--name-only", "main")
    assert by_hand.events(box, "group-merged", parent)


def test_a_group_without_checks_merges_together(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path, check="", both=True)  # neither project has a check
    parent, web, api = group(box)
    approved(box, "Rename in web", FINE, uuid=web)
    # Without the group, web would have merged now; with it, web waits for its sibling.
    assert queued(box) == [(web[:8], "queued")] and not merged(box, web)
    assert main_subjects(box, "web") == main_subjects(box, "api") == ["Initial commit"]
    approved(box, "Adapt api", FINE, uuid=api)
    assert merged(box, web) and merged(box, api)
    assert main_subjects(box, "web")[0].startswith("Merge ttal/")
    assert main_subjects(box, "api")[0].startswith("Merge ttal/")
    body = box.git("api", "log", "-1", "--format=%b", "main")
    assert "with its group" in body and "(no check)" in body
    assert by_hand.events(box, "group-merged", parent)


def test_a_mixed_group_waits_for_the_child_whose_check_fails(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path)  # web has a check; api has none
    _, web, api = group(box)
    approved(box, "Adapt api", FINE, uuid=api)
    approved(box, "Rename in web", {**FINE, "BROKEN": "x\n"}, uuid=web)
    assert dict(queued(box)) == {api[:8]: "queued", web[:8]: "returned"}
    assert main_subjects(box, "web") == main_subjects(box, "api") == ["Initial commit"]
    assert not merged(box, api) and by_hand.events(box, "merge-returned", web)
    tree = by_hand.worktree(box, web)
    (tree / "BROKEN").unlink()
    sandbox.git(tree, "commit", "-qam", "Unbreak the check")
    box.ttal("go", env=worker_env(web), check=True)
    box.ttal("review", "approve", env=reviewer_env(web), check=True)
    wait_for(lambda: not continuations(web), timeout=60, what="background go to end")
    assert merged(box, web) and merged(box, api)
    assert main_subjects(box, "web")[0].startswith("Merge ttal/")
    assert main_subjects(box, "api")[0].startswith("Merge ttal/")


@pytest.mark.parametrize("check", ["sh check.sh", ""], ids=["checked", "no-check"])
def test_a_crash_between_the_two_repos_is_completed_by_the_next_go(
    make_box: Callable[..., Box], tmp_path: Path, check: str
) -> None:
    box = queue_box(make_box, tmp_path, check=check, both=True)
    parent, web, api = group(box)
    with locks.held(box.sb.state_dir / "locks" / f"merge-group-{parent}.lock"):
        approved(box, "Rename in web", FINE, uuid=web)
        approved(box, "Adapt api", FINE, uuid=api)
    armed = {"TTAL_FAULT": "group.second", "TTAL_FAULT_LOG": str(box.sb.root / "faults.log")}
    assert box.ttal("go", web, env=armed).returncode == KILLED
    lengths = sorted(len(main_subjects(box, p)) for p in ("web", "api"))
    assert lengths == [1, 2]  # one repo merged, the other not yet (depends: order decides)
    box.ttal("go", api)  # any child's `ttal go` completes the group
    assert main_subjects(box, "api")[0].startswith("Merge ttal/")
    assert main_subjects(box, "web")[0].startswith("Merge ttal/")
    assert merged(box, web) and merged(box, api)
    assert len(main_subjects(box, "web")) == len(main_subjects(box, "api")) == 2  # once each
    box.ttal("deliver", "--once", check=True)
    assert box.get(web)["status"] == box.get(api)["status"] == "completed"
    open_ = by_hand.rows(box, "SELECT action FROM intents WHERE state IN ('pending', "
                         "'flagged', 'unknown')")  # fmt: skip
    assert open_ == []
