"""The pure planning half of the steps (ttal.core.plans, ttal.core.spawn_limits,
ttal.core.task_view): no subprocess, no Taskwarrior, no tmux, no git."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttal.core.pipeline import Action, Stage
from ttal.core.plans import (
    Workplace,
    plan_assign,
    plan_brief,
    plan_complete,
    plan_merge,
    plan_new_round,
    plan_review_start,
    plan_reviewer,
    plan_spawn,
    reviewing,
)
from ttal.core.spawn_limits import SpawnLimits, spawn_blocked
from ttal.core.task_view import TaskView, read_task
from ttal.errors import PreconditionFailed

UUID = "11111111-2222-4333-8444-555555555555"
WORK = Stage("implement", "work", "coded", "review", "coder", "review-lead", "reviewing", "lgtm")
PLAN = Stage("plan", "work", "planned", "review", "planner", "review-lead", "plan-review",
             "plan-ok", commits=False)  # fmt: skip
MERGE = Stage("merge", "merge", "merged")
WHERE = Workplace("api", Path("/repos/api"), "main", Path("/wt"))


def view(**facts: object) -> TaskView:
    row: dict[str, object] = {"uuid": UUID, "status": "pending", "description": "Add auth",
                              "project": "api", **facts}  # fmt: skip
    return read_task(row)


def test_read_task_types_the_export_row() -> None:
    task = read_task({
        "uuid": UUID, "status": "pending", "tags": ["coded", "reviewing"], "start": "20260101",
        "ttal_review": "changes:abc123", "ttal_round": "2", "ttal_approved": "plan,merge",
        "annotations": [{"description": "use JWT"}], "ttal_branch": "ttal/11111111-add-auth",
    })  # fmt: skip
    assert task.tags == {"coded", "reviewing"} and task.started
    assert (task.review_state, task.review_commit, task.review_round) == ("changes", "abc123", 2)
    assert task.approved == {"plan", "merge"} and task.annotations == ("use JWT",)
    assert task.branch == "ttal/11111111-add-auth" and task.short == "11111111"
    assert read_task({"uuid": UUID}).status == "pending"


def test_spawn_plan_for_a_new_task() -> None:
    plan = plan_spawn(view(), WORK, WHERE, "coder", "scripted", "lead", "ttal/11111111-add-auth")
    assert plan.session == "w-11111111"
    assert plan.worktree == Path("/wt/api/11111111-add-auth")
    assert plan.facts == {"ttal_branch": "ttal/11111111-add-auth",
                          "ttal_worktree": "/wt/api/11111111-add-auth", "ttal_agent": "coder",
                          "ttal_runtime": "scripted", "ttal_spawner": "lead"}  # fmt: skip
    assert "Add auth" in plan.prompt and "ttal/11111111-add-auth (from main)" in plan.prompt
    assert plan.meta["stage"] == "implement" and plan.meta["short"] == "11111111"
    assert plan.session_facts("sid-1") == {"ttal_session": "w-11111111",
                                           "ttal_stage": "implement",
                                           "ttal_session_id": "sid-1", "start": "now"}  # fmt: skip


def test_spawn_plan_keeps_what_a_crashed_spawn_recorded() -> None:
    """A respawn writes no fact twice, keeps the branch and worktree, and starts no task
    that is started already."""
    task = view(ttal_branch="ttal/old", ttal_worktree="/else/where", ttal_agent="coder",
                ttal_runtime="scripted", ttal_spawner="lead", start="20260101")  # fmt: skip
    plan = plan_spawn(task, WORK, WHERE, "coder", "scripted", "human", "ttal/new-name")
    assert (plan.branch, plan.worktree, plan.facts) == ("ttal/old", Path("/else/where"), {})
    assert plan.session_facts("") == {"ttal_session": "w-11111111", "ttal_stage": "implement"}


def test_brief_and_complete_plans() -> None:
    brief = plan_brief(view(ttal_session="w-custom"), PLAN)
    assert brief.message.to == "w-custom" and brief.message.sender == "ttal"
    assert brief.message.key == f"brief:{UUID}:plan" and "ttal go --note" in brief.message.text
    assert plan_complete(view(), WORK, "w-11111111", "").annotation == ""
    done = plan_complete(view(), WORK, "w-11111111", "done it")
    assert (done.tag, done.annotation) == ("coded", "implement by w-11111111: done it")


@pytest.mark.parametrize(
    ("worktree", "exists", "workdir"),
    [
        ("/wt/api/x", True, "/wt/api/x"),
        ("/wt/api/x", False, "/repos/api"),
        ("", True, "/repos/api"),
    ],
    ids=["in-worktree", "worktree-gone", "no-worktree-yet"],
)
def test_reviewer_plan_workdir(worktree: str, exists: bool, workdir: str) -> None:
    plan = plan_reviewer(view(ttal_worktree=worktree), WORK, WHERE, "scripted", 2, exists)
    assert plan.workdir == Path(workdir) and plan.session == "r-11111111-implement"
    assert "round 2" in plan.prompt and plan.meta["round"] == 2


def test_review_start_is_one_modify() -> None:
    reviewer = plan_reviewer(view(), WORK, WHERE, "scripted", 1, True)
    plan = plan_review_start(reviewer, WORK, "abc")
    assert plan.modify == ("ttal_reviewer:r-11111111-implement", "ttal_review:reviewing:abc",
                           "ttal_round:1", "+reviewing")  # fmt: skip
    assert reviewing("") == "reviewing"


def test_new_round_needs_a_new_commit() -> None:
    task = view(ttal_review="changes:abc", ttal_round=2, ttal_reviewer="r-11111111-implement")
    with pytest.raises(PreconditionFailed, match="no new commit"):
        plan_new_round(task, WORK, "abc", "w-11111111", "")
    plan = plan_new_round(task, WORK, "def", "w-11111111", "fixed")
    assert (plan.round, plan.review, plan.reviewer) == (2, "reviewing:def", "r-11111111-implement")
    assert plan.message.key == f"round:{UUID}:implement:2" and plan.message.sender == ""
    assert plan.annotation == "implement round 2 by w-11111111: fixed"
    # A stage without commits has no head to compare: each round is new.
    assert plan_new_round(task, PLAN, "", "w-11111111", "").review == "reviewing"


def test_merge_and_assign_plans() -> None:
    task = view(ttal_branch="ttal/b", ttal_worktree="/wt/api/b", annotations=[{"description": "n"}])
    merge = plan_merge(task, MERGE, WHERE)
    assert merge.message == "Merge ttal/b: Add auth (ttal task 11111111)" and merge.tag == "merged"
    assign = plan_assign(task, PLAN, "planner-1", "lead")
    assert assign.facts == {"ttal_owner": "planner-1", "ttal_owner_stage": "plan",
                            "ttal_spawner": "lead"}  # fmt: skip
    assert "Notes: n" in assign.message.text and assign.message.key == f"assign:{UUID}:plan"
    assert "ttal_spawner" not in plan_assign(view(ttal_spawner="x"), PLAN, "p", "lead").facts


LIMITS = SpawnLimits(2, "api", 0, 0.0, "claude", 0.0)


def never(*_: object) -> float:
    raise AssertionError("asked although no limit needs it")


@pytest.mark.parametrize(
    ("limits", "queued", "running", "workers", "last", "reason"),
    [
        (LIMITS, [], {"w-aaaaaaaa"}, 0, 0.0, ""),
        (LIMITS, ["other", UUID], set(), 0, 0.0, "2 earlier task(s) of api are waiting"),
        (LIMITS, [UUID], set(), 0, 0.0, ""),
        (LIMITS, [], {"w-a", "w-b", "w-11111111", "r-c"}, 0, 0.0, "2 workers running"),
        (SpawnLimits(9, "api", 1, 0.0, "claude", 0.0), [], set(), 1, 0.0, "1 workers running in"),
        (SpawnLimits(9, "api", 0, 10.0, "claude", 0.0), [], set(), 0, 995.0, "project api: next"),
        (SpawnLimits(9, "api", 0, 0.0, "claude", 10.0), [], set(), 0, 995.0, "runtime claude"),
        (SpawnLimits(9, "api", 0, 10.0, "claude", 10.0), [], set(), 0, 980.0, ""),
    ],
    ids=[
        "free",
        "queue-order",
        "first-in-queue",
        "max-workers",
        "project-max",
        "project-spacing",
        "runtime-spacing",
        "spacing-passed",
    ],
)
def test_spawn_blocked(limits: SpawnLimits, queued: list[str], running: set[str], workers: int,
                       last: float, reason: str) -> None:  # fmt: skip
    count = (lambda: workers) if limits.project_max else never
    got = spawn_blocked(UUID, limits, queued, running, count, lambda *_: last, 1000.0)
    assert (reason in got) if reason else got == ""


def test_go_dispatches_every_action_once() -> None:
    from ttal.engine.drive import HANDLERS

    assert set(HANDLERS) == set(Action)
