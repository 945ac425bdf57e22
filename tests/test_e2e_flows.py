"""Whole pipelines with real task, git and tmux: a requested-changes round, the planned
pipeline with its human gate, sessions that crash and come back, and `ttal status`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import by_hand
from tests.by_hand import annotations, commit, reviewer_env, worker_env
from tests.conftest import Box, wait_for
from ttal.errors import Exit

MERGE_TIMEOUT = 60


def status_rows(box: Box) -> dict[str, dict[str, Any]]:
    proc = box.ttal("status", "--json", check=True)
    return {row["uuid"]: row for row in json.loads(proc.stdout)["tasks"]}


def kill_session(box: Box, name: str) -> None:
    subprocess.run(["tmux", "-L", box.sb.socket, "kill-session", "-t", f"={name}"], check=True)
    wait_for(lambda: name not in box.sessions(), what=f"{name} to die")


def merges_on_main(box: Box, project: str) -> int:
    return int(box.git(project, "rev-list", "--merges", "--count", "main"))


def test_requested_changes_then_approved_in_round_two(box: Box) -> None:
    uuid = box.add("Add a rate limit", "project:api")
    box.ttal("go", uuid, check=True)
    wait_for(lambda: box.get(uuid)["status"] == "completed", MERGE_TIMEOUT, "the merge")

    task = box.get(uuid)
    assert {"coded", "reviewing", "lgtm", "merged"} <= set(task["tags"])
    assert task["ttal_round"] == 2
    notes = annotations(box, uuid)
    asked = [i for i, n in enumerate(notes) if "round 1: changes requested: please add a test" in n]
    approved = [i for i, n in enumerate(notes) if "approved by" in n and "(round 2," in n]
    assert len(asked) == 1 and len(approved) == 1 and asked[0] < approved[0], notes

    assert merges_on_main(box, "api") == 1
    assert f"(ttal task {uuid[:8]})" in box.git("api", "log", "-1", "--format=%s", "main")
    subjects = box.git("api", "log", "--format=%s", "main^1..main^2").splitlines()
    assert subjects == [f"Test the rate limit ({uuid[:8]})", f"Add a rate limit ({uuid[:8]})"]
    assert {"ratelimit.py", "test_ratelimit.py"} <= set(
        box.git("api", "ls-tree", "--name-only", "main").split()
    )
    wait_for(lambda: not box.sessions(), what="sessions cleaned up")
    assert status_rows(box)[uuid]["stage"] == "merged"
    assert not box.git("api", "branch", "--list", "ttal/*").strip()


def test_planned_pipeline_waits_for_a_person(box: Box) -> None:
    uuid = box.add("Plan the search page", "project:web", "+feature")
    short = uuid[:8]
    box.ttal("go", uuid, check=True)
    wait_for(lambda: "build_lgtm" in box.get(uuid).get("tags", []), MERGE_TIMEOUT, "build review")

    task = box.get(uuid)
    assert {"planned", "plan_reviewing", "plan_lgtm", "built", "build_reviewing"} <= set(
        task["tags"]
    )
    assert "shipped" not in task["tags"] and task["status"] == "pending"
    plan_note = f"plan by w-{short}: Plan: add docs/{short}.md describing the change"
    assert plan_note in annotations(box, uuid)
    assert status_rows(box)[uuid]["stage"] == "awaiting approval"
    assert merges_on_main(box, "web") == 0

    waiting = box.ttal("go", uuid)
    assert waiting.returncode == Exit.WAITING, waiting.stdout + waiting.stderr
    assert f"ttal approve {short}" in waiting.stdout
    assert merges_on_main(box, "web") == 0

    approved = box.ttal("approve", uuid, check=True)
    assert "approved stage merge" in approved.stdout
    task = box.get(uuid)
    assert task["status"] == "completed" and "shipped" in task["tags"]
    assert task["ttal_approved"] == "merge"
    assert box.git("web", "show", f"main:docs/{short}.md") == "# Plan the search page\n"
    assert merges_on_main(box, "web") == 1
    main = box.git("web", "rev-parse", "main")

    again = box.ttal("approve", uuid)  # never asked twice: nothing left to approve
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already merged; nothing to approve" in again.stdout
    assert "Traceback" not in again.stderr
    assert box.git("web", "rev-parse", "main") == main
    assert sum("approved by a person" in n for n in annotations(box, uuid)) == 1
    wait_for(lambda: not box.sessions(), what="sessions cleaned up")


def test_killed_worker_session_is_restarted(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Survive a crash", "project:api")
    name = f"w-{uuid[:8]}"
    box.ttal("go", uuid, check=True)
    before = box.get(uuid)
    head = commit(box, uuid, "wip.txt", "half done\n")
    kill_session(box, name)

    proc = box.ttal("go", uuid, check=True)
    assert "worker session was gone" in proc.stdout
    assert box.sessions() == [name]
    after = box.get(uuid)
    for uda in ("ttal_branch", "ttal_worktree", "ttal_session"):
        assert after[uda] == before[uda]
    assert by_hand.worktrees(box, "api") == [before["ttal_worktree"]]
    assert [b.split()[0] for b in by_hand.branches(box, "api")] == ["main", before["ttal_branch"]]
    assert box.git("api", "rev-parse", before["ttal_branch"]).strip() == head

    spawned = len(by_hand.events(box, "spawned", uuid))
    again = box.ttal("go", uuid, check=True)  # alive now: nothing to restart
    assert "is working" in again.stdout
    assert len(by_hand.events(box, "spawned", uuid)) == spawned
    assert box.sessions() == [name]


def test_killed_review_session_is_restarted(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Survive a reviewer crash", "project:api")
    lead = f"r-{uuid[:8]}-implement"
    box.ttal("go", uuid, check=True)
    commit(box, uuid, "feature.txt", "done\n")
    box.ttal("go", uuid, env=worker_env(uuid), check=True)
    tags = set(box.get(uuid)["tags"])
    kill_session(box, lead)

    proc = box.ttal("go", uuid)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"review lead session was gone; restarted {lead} (round 1)" in proc.stdout
    assert sorted(box.sessions()) == sorted([lead, f"w-{uuid[:8]}"])
    task = box.get(uuid)
    assert set(task["tags"]) == tags and task["ttal_round"] == 1
    assert box.ttal("go", uuid).returncode == Exit.WAITING  # alive again: just waits


def test_status_lists_tasks_by_stage(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    pending = box.add("Not started yet", "project:api")
    working = box.add("Being worked on", "project:api")
    reviewing = box.add("Under review", "project:web")
    changes = box.add("Needs changes", "project:web")
    for uuid in (working, reviewing, changes):
        box.ttal("go", uuid, check=True)
    for uuid in (reviewing, changes):
        commit(box, uuid, f"{uuid[:8]}.txt", "done\n")
        box.ttal("go", uuid, env=worker_env(uuid), check=True)
    box.ttal("review", "changes", "rename it", env=reviewer_env(changes), check=True)

    rows = status_rows(box)
    expected = {
        pending: "pending",
        working: "implement: working",
        reviewing: "implement: reviewing (r1)",
        changes: "implement: changes requested (r2)",
    }
    assert {uuid: rows[uuid]["stage"] for uuid in expected} == expected
    assert rows[working]["worker"] == f"w-{working[:8]}" and rows[working]["reviewer"] == ""
    assert rows[reviewing]["reviewer"] == f"r-{reviewing[:8]}-implement"

    text = box.ttal("status", check=True).stdout
    for uuid, stage in expected.items():
        line = next(x for x in text.splitlines() if box.get(uuid)["description"] in x)
        assert stage in line, text
    assert f"w-{working[:8]}" in text and "worker" in text and "reviewer" in text
