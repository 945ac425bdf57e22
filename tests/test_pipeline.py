"""The pure step logic in ttal.core.pipeline: no subprocess, no Taskwarrior, no tmux."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from ttal.core.pipeline import (
    Action,
    Caller,
    Pipeline,
    Stage,
    current_stage,
    may_add_tag,
    next_step,
    select_pipeline,
)
from ttal.core.task_view import TaskView

UUID = "11111111-2222-4333-8444-555555555555"
OTHER = "99999999-8888-4777-8666-555555555555"

# The same pipelines as config.default_pipeline and sandbox.config_yaml, built by hand.
DEFAULT = Pipeline(
    "default",
    (),
    (
        Stage("implement", "work", "coded", "review", "coder", "review-lead", "reviewing", "lgtm"),
        Stage("merge", "merge", "merged", "auto"),
    ),
)
PLANNED = Pipeline(
    "planned",
    ("feature",),
    (
        Stage(
            "plan",
            "work",
            "planned",
            "review",
            "coder",
            "plan-lead",
            "plan_reviewing",
            "plan_lgtm",
            commits=False,
        ),
        Stage(
            "implement",
            "work",
            "built",
            "review",
            "coder",
            "review-lead",
            "build_reviewing",
            "build_lgtm",
        ),
        Stage("merge", "merge", "shipped", "human"),
    ),
)
# A person approves both the work and the merge.
GATED = Pipeline(
    "gated",
    ("gated",),
    (
        Stage("design", "work", "designed", "human", "coder"),
        Stage("land", "merge", "landed", "human"),
    ),
)
PIPELINES = {p.name: p for p in (DEFAULT, PLANNED, GATED)}

HUMAN = Caller()
MANAGER = Caller("boss", "manager")
WORKER = Caller("coder", "worker", UUID)
REVIEWER = Caller("review-lead", "reviewer", UUID)
OTHER_WORKER = Caller("coder", "worker", OTHER)
OTHER_REVIEWER = Caller("review-lead", "reviewer", OTHER)
LOST_WORKER = Caller("coder", "worker", "")

DEFAULT_DONE = ("coded", "reviewing", "lgtm")
PLAN_DONE = ("planned", "plan_reviewing", "plan_lgtm")
BUILD_DONE = ("built", "build_reviewing", "build_lgtm")


def view(
    *tags: str,
    status: str = "pending",
    session: str = "",
    briefed: str = "",
    review: str = "",
    round_: int = 0,
    approved: tuple[str, ...] = (),
) -> TaskView:
    return TaskView(
        UUID, status, frozenset(tags), session, briefed, review, round_, frozenset(approved)
    )


@dataclass(frozen=True)
class Case:
    task: TaskView
    pipeline: Pipeline
    caller: Caller
    action: Action
    stage: str | None  # the name of the stage the step is about
    reason: str = ""  # a fragment of Step.reason
    code: str = ""  # Step.details["code"] for refusals


def busy(
    *tags: str,
    stage: str = "implement",
    status: str = "pending",
    review: str = "",
    round_: int = 0,
    approved: tuple[str, ...] = (),
) -> TaskView:
    """A task whose worker session exists and was briefed for `stage`."""
    return view(
        *tags,
        status=status,
        session="ttal-w-1",
        briefed=stage,
        review=review,
        round_=round_,
        approved=approved,
    )


CASES = {
    # ---- work stages -------------------------------------------------------
    "spawn-by-person": Case(view(), DEFAULT, HUMAN, Action.SPAWN_WORKER, "implement"),
    "spawn-by-manager": Case(view(), DEFAULT, MANAGER, Action.SPAWN_WORKER, "implement"),
    "spawn-planned-starts-at-plan": Case(
        view("feature"), PLANNED, HUMAN, Action.SPAWN_WORKER, "plan"
    ),
    "ensure-worker-for-person": Case(busy(), DEFAULT, HUMAN, Action.ENSURE_WORKER, "implement"),
    "ensure-worker-for-manager": Case(busy(), DEFAULT, MANAGER, Action.ENSURE_WORKER, "implement"),
    "brief-worker-for-next-stage": Case(
        busy("feature", *PLAN_DONE, stage="plan"), PLANNED, HUMAN, Action.BRIEF_WORKER, "implement"
    ),
    "brief-worker-asked-by-worker": Case(
        busy("feature", *PLAN_DONE, stage="plan"), PLANNED, WORKER, Action.BRIEF_WORKER, "implement"
    ),
    "complete-work-by-worker": Case(busy(), DEFAULT, WORKER, Action.COMPLETE_WORK, "implement"),
    "complete-plan-by-worker": Case(
        busy("feature", stage="plan"), PLANNED, WORKER, Action.COMPLETE_WORK, "plan"
    ),
    "reviewer-waits-for-work": Case(
        busy(), DEFAULT, REVIEWER, Action.WAIT, "implement", "has not finished"
    ),
    # ---- review gates ------------------------------------------------------
    "spawn-reviewer": Case(busy("coded"), DEFAULT, HUMAN, Action.SPAWN_REVIEWER, "implement"),
    "spawn-reviewer-asked-by-worker": Case(
        busy("coded"), DEFAULT, WORKER, Action.SPAWN_REVIEWER, "implement"
    ),
    "spawn-plan-reviewer": Case(
        busy("feature", "planned", stage="plan"), PLANNED, MANAGER, Action.SPAWN_REVIEWER, "plan"
    ),
    "await-review": Case(
        busy("coded", "reviewing", review="reviewing", round_=1),
        DEFAULT,
        HUMAN,
        Action.AWAIT_REVIEW,
        "implement",
        "round 1",
    ),
    "await-review-asked-by-reviewer": Case(
        busy("coded", "reviewing", review="reviewing"),
        DEFAULT,
        REVIEWER,
        Action.AWAIT_REVIEW,
        "implement",
    ),
    "new-round-by-worker": Case(
        busy("coded", "reviewing", review="changes", round_=2),
        DEFAULT,
        WORKER,
        Action.NEW_ROUND,
        "implement",
        "round 2",
    ),
    "new-round-by-person": Case(
        busy("coded", "reviewing", review="changes"), DEFAULT, HUMAN, Action.NEW_ROUND, "implement"
    ),
    "reviewer-waits-for-changes": Case(
        busy("coded", "reviewing", review="changes"),
        DEFAULT,
        REVIEWER,
        Action.WAIT,
        "implement",
        "address your changes",
    ),
    # ---- merge -------------------------------------------------------------
    "merge-by-person": Case(busy(*DEFAULT_DONE), DEFAULT, HUMAN, Action.MERGE, "merge"),
    "merge-by-own-reviewer": Case(busy(*DEFAULT_DONE), DEFAULT, REVIEWER, Action.MERGE, "merge"),
    "merge-by-manager": Case(busy(*DEFAULT_DONE), DEFAULT, MANAGER, Action.MERGE, "merge"),
    "finish-when-every-tag-is-there": Case(
        busy(*DEFAULT_DONE, "merged"), DEFAULT, HUMAN, Action.FINISH, None
    ),
    # ---- human gates -------------------------------------------------------
    "human-gate-waits-at-work": Case(
        busy("gated", "designed", stage="design"),
        GATED,
        HUMAN,
        Action.WAIT,
        "design",
        "ttal approve 11111111",
    ),
    "human-gate-waits-at-work-for-worker": Case(
        busy("gated", "designed", stage="design"), GATED, WORKER, Action.WAIT, "design"
    ),
    "human-gate-waits-at-merge": Case(
        busy("gated", "designed", stage="design", approved=("design",)),
        GATED,
        HUMAN,
        Action.WAIT,
        "land",
        "waiting for a person",
    ),
    "human-gate-merges-once-approved": Case(
        busy("gated", "designed", stage="design", approved=("design", "land")),
        GATED,
        MANAGER,
        Action.MERGE,
        "land",
    ),
    "planned-merge-waits-for-person": Case(
        busy("feature", *PLAN_DONE, *BUILD_DONE), PLANNED, REVIEWER, Action.WAIT, "merge"
    ),
    "planned-merge-after-approval": Case(
        busy("feature", *PLAN_DONE, *BUILD_DONE, approved=("merge",)),
        PLANNED,
        HUMAN,
        Action.MERGE,
        "merge",
    ),
    # ---- finished tasks ----------------------------------------------------
    "nothing-for-merged-task": Case(
        view(*DEFAULT_DONE, "merged", status="completed"),
        DEFAULT,
        HUMAN,
        Action.NOTHING,
        None,
        "already merged",
    ),
    "nothing-for-shipped-but-unapproved": Case(
        view("feature", *PLAN_DONE, *BUILD_DONE, "shipped", status="completed"),
        PLANNED,
        HUMAN,
        Action.NOTHING,
        None,
        "already merged",
    ),
    "nothing-for-task-done-by-hand": Case(
        view("coded", status="completed"),
        DEFAULT,
        HUMAN,
        Action.NOTHING,
        None,
        "outside the pipeline",
    ),
    "nothing-asked-by-own-worker": Case(
        view(*DEFAULT_DONE, "merged", status="completed"), DEFAULT, WORKER, Action.NOTHING, None
    ),
    # ---- refusals ----------------------------------------------------------
    "worker-on-another-task": Case(
        busy(),
        DEFAULT,
        OTHER_WORKER,
        Action.REFUSE,
        None,
        "only drive its own task (99999999)",
        "forbidden",
    ),
    "reviewer-on-another-task": Case(
        busy("coded", "reviewing"),
        DEFAULT,
        OTHER_REVIEWER,
        Action.REFUSE,
        None,
        "a reviewer may only",
        "forbidden",
    ),
    "worker-without-a-task": Case(
        busy(), DEFAULT, LOST_WORKER, Action.REFUSE, None, "(none)", "forbidden"
    ),
    "worker-tries-to-merge": Case(
        busy(*DEFAULT_DONE), DEFAULT, WORKER, Action.REFUSE, "merge", "cannot merge", "forbidden"
    ),
    "worker-tries-to-merge-at-human-gate": Case(
        busy(*PLAN_DONE, *BUILD_DONE), PLANNED, WORKER, Action.REFUSE, "merge", "", "forbidden"
    ),
    "worker-tries-to-spawn": Case(
        view(),
        DEFAULT,
        WORKER,
        Action.REFUSE,
        "implement",
        "only a manager or a person",
        "forbidden",
    ),
    "reviewer-tries-to-spawn": Case(
        view(), DEFAULT, REVIEWER, Action.REFUSE, "implement", "starts work", "forbidden"
    ),
    "deleted-task": Case(
        busy("coded", status="deleted"), DEFAULT, HUMAN, Action.REFUSE, None, "deleted", "not-found"
    ),
    "deleted-task-asked-by-own-worker": Case(
        view(status="deleted"), DEFAULT, WORKER, Action.REFUSE, None, "deleted", "not-found"
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_next_step(case: Case) -> None:
    step = next_step(case.task, case.pipeline, case.caller)
    assert step.action is case.action, step.reason
    assert (step.stage.name if step.stage else None) == case.stage
    assert case.reason in step.reason
    assert step.details.get("code", "") == case.code


ROUTED = Pipeline(
    "routed",
    ("design",),
    (
        Stage("plan", "work", "planned", "auto", commits=False, role="designer"),
        Stage("implement", "work", "coded", "review", "coder", "review-lead", "reviewing", "lgtm"),
        Stage("merge", "merge", "merged", "auto"),
    ),
)
DESIGNER = Caller("dana", "manager")


@pytest.mark.parametrize(
    ("task", "caller", "action", "stage"),
    [
        pytest.param(view(), HUMAN, Action.ASSIGN, "plan", id="assign-new"),
        pytest.param(view(), MANAGER, Action.ASSIGN, "plan", id="assign-by-manager"),
        pytest.param(view(), WORKER, Action.REFUSE, "plan", id="worker-cannot-assign"),
        pytest.param(
            replace(view(), owner="dana", owner_stage="plan"), HUMAN, Action.AWAIT_OWNER, "plan",
            id="owner-is-on-it",
        ),
        pytest.param(
            replace(view(), owner="dana", owner_stage="plan"), DESIGNER, Action.COMPLETE_WORK,
            "plan", id="owner-completes",
        ),
        pytest.param(
            replace(view("planned"), owner="dana", owner_stage="plan"), DESIGNER,
            Action.SPAWN_WORKER, "implement", id="then-a-worker",
        ),
    ],
)  # fmt: skip
def test_role_stages(task: TaskView, caller: Caller, action: Action, stage: str) -> None:
    step = next_step(task, ROUTED, caller)
    assert step.action is action
    assert step.stage is not None and step.stage.name == stage


def test_every_action_is_covered() -> None:
    routed = {Action.ASSIGN, Action.AWAIT_OWNER}  # test_role_stages
    assert {c.action for c in CASES.values()} | routed == set(Action)


# ---- select_pipeline ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param(set(), "default", id="no-tags-default"),
        pytest.param({"urgent", "docs"}, "default", id="unrelated-tags-default"),
        pytest.param({"feature"}, "planned", id="match-tag"),
        pytest.param({"feature", "coded"}, "planned", id="match-tag-beats-default-tags"),
        pytest.param({"gated", "x"}, "gated", id="other-match-tag"),
    ],
)
def test_select_pipeline(tags: set[str], expected: str) -> None:
    assert select_pipeline(frozenset(tags), PIPELINES).name == expected


def test_select_pipeline_ambiguous() -> None:
    with pytest.raises(ValueError, match=r"several pipelines \(planned, gated\)"):
        select_pipeline(frozenset({"feature", "gated"}), PIPELINES)


def test_select_pipeline_without_default_names_the_match_tags() -> None:
    only_matching = {"planned": PLANNED, "gated": GATED}
    with pytest.raises(ValueError, match=r"matches no pipeline.*\+feature, \+gated"):
        select_pipeline(frozenset({"docs"}), only_matching)


# ---- may_add_tag ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "have", "tag", "allowed"),
    [
        pytest.param(DEFAULT, (), "coded", True, id="first-tag"),
        pytest.param(DEFAULT, ("coded",), "reviewing", True, id="second-after-first"),
        pytest.param(DEFAULT, (), "reviewing", False, id="second-without-first"),
        pytest.param(DEFAULT, ("coded",), "lgtm", False, id="skip-reviewing"),
        pytest.param(DEFAULT, DEFAULT_DONE, "merged", True, id="merged-after-lgtm"),
        pytest.param(DEFAULT, ("coded", "reviewing"), "merged", False, id="merged-before-lgtm"),
        pytest.param(DEFAULT, (), "docs", True, id="non-pipeline-tag"),
        pytest.param(DEFAULT, ("coded",), "coded", True, id="re-adding-is-harmless"),
        pytest.param(PLANNED, PLAN_DONE, "built", True, id="planned-next-stage"),
        pytest.param(
            PLANNED,
            ("planned", "plan_reviewing"),
            "built",
            False,
            id="planned-without-plan-approval",
        ),
        pytest.param(PLANNED, (*PLAN_DONE, *BUILD_DONE), "shipped", True, id="planned-last"),
        pytest.param(DEFAULT, (), "planned", True, id="other-pipelines-tag-not-judged-here"),
    ],
)
def test_may_add_tag(pipeline: Pipeline, have: tuple[str, ...], tag: str, allowed: bool) -> None:
    assert may_add_tag(pipeline, frozenset(have), tag) is allowed


# ---- current_stage --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "task", "expected"),
    [
        pytest.param(DEFAULT, view(), "implement", id="fresh"),
        pytest.param(DEFAULT, view("coded", "reviewing"), "implement", id="review-not-approved"),
        pytest.param(DEFAULT, view(*DEFAULT_DONE), "merge", id="reviewed"),
        pytest.param(DEFAULT, view(*DEFAULT_DONE, "merged"), None, id="complete"),
        pytest.param(GATED, view("designed"), "design", id="human-gate-without-approval"),
        pytest.param(
            GATED, view("designed", approved=("design",)), "land", id="human-gate-approved"
        ),
        pytest.param(
            GATED, view(approved=("design",)), "design", id="approval-without-the-tag-is-not-enough"
        ),
        pytest.param(
            GATED,
            view("designed", "landed", approved=("design",)),
            "land",
            id="human-merge-gate-without-approval",
        ),
        pytest.param(
            GATED,
            view("designed", "landed", approved=("design", "land")),
            None,
            id="every-gate-approved",
        ),
        pytest.param(
            PLANNED,
            view(*PLAN_DONE, approved=("plan",)),
            "implement",
            id="approval-of-review-gate-is-ignored",
        ),
        pytest.param(
            PLANNED,
            view(*PLAN_DONE, *BUILD_DONE, "shipped"),
            "merge",
            id="planned-shipped-awaits-person",
        ),
    ],
)
def test_current_stage(pipeline: Pipeline, task: TaskView, expected: str | None) -> None:
    stage = current_stage(pipeline, task)
    assert (stage.name if stage else None) == expected


def test_pipeline_tags_are_in_stage_order() -> None:
    assert DEFAULT.tags == ("coded", "reviewing", "lgtm", "merged")
    assert PLANNED.tags == (*PLAN_DONE, *BUILD_DONE, "shipped")
    assert PLANNED.approve_tags == ("plan_lgtm", "build_lgtm")
    assert GATED.tags == ("designed", "landed")


@pytest.mark.parametrize(
    ("review_state", "caller", "action"),
    [
        pytest.param("approved", WORKER, Action.NEW_ROUND, id="worker-asks-rereview"),
        pytest.param("approved", HUMAN, Action.NEW_ROUND, id="person-asks-rereview"),
        pytest.param("approved", REVIEWER, Action.WAIT, id="reviewer-waits-for-worker"),
        pytest.param("reviewing", HUMAN, Action.AWAIT_REVIEW, id="rereview-in-progress"),
        pytest.param("changes", WORKER, Action.NEW_ROUND, id="rereview-changes-answered"),
    ],
)
def test_commits_after_approval_are_rereviewed(
    review_state: str, caller: Caller, action: Action
) -> None:
    task = replace(busy(*DEFAULT_DONE), review_state=review_state, unreviewed=True)
    step = next_step(task, DEFAULT, caller)
    assert step.action is action
    assert step.stage is not None and step.stage.name == "implement"


def test_approved_commit_merges() -> None:
    task = replace(busy(*DEFAULT_DONE), review_state="approved", unreviewed=False)
    assert next_step(task, DEFAULT, HUMAN).action is Action.MERGE
