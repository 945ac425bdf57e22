"""Pipelines and the step logic: pure functions, no subprocess.

A pipeline is an ordered list of stages. Each stage contributes monotonic tags; a task's
progress is read from which of those tags it carries, plus a few UDAs ttal records.
`next_step` answers "given this task, its pipeline and the caller, what happens now?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ttal.core.task_view import TaskView

GATES = ("auto", "review", "human")


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str  # "work" (an agent does it) or "merge"
    tag: str  # added when the stage's work is done
    gate: str = "auto"  # what completes the stage: auto, review (reviewer approval), human
    agent: str = ""  # work stages: the configured agent that does the work
    reviewer: str = ""  # review gates: the configured reviewer agent
    review_tag: str = ""  # added when the review lead is spawned
    approve_tag: str = ""  # added by the reviewer's approval
    commits: bool = True  # work stages: must the branch have commits ahead of base?
    role: str = ""  # work stages done by whichever persistent agent of this role is idle

    @property
    def tags(self) -> tuple[str, ...]:
        if self.gate == "review":
            return (self.tag, self.review_tag, self.approve_tag)
        return (self.tag,)


@dataclass(frozen=True)
class Pipeline:
    name: str
    match_tags: tuple[str, ...]
    stages: tuple[Stage, ...]

    @property
    def tags(self) -> tuple[str, ...]:
        """Every pipeline tag, in the only order they may be added."""
        return tuple(tag for stage in self.stages for tag in stage.tags)

    @property
    def approve_tags(self) -> tuple[str, ...]:
        return tuple(s.approve_tag for s in self.stages if s.approve_tag)

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)


@dataclass(frozen=True)
class Caller:
    """Who runs the command, from the environment ttal sets on its sessions."""

    name: str = "human"
    role: str = "human"  # human, manager, worker, reviewer
    task: str = ""  # the task a worker or reviewer session belongs to

    @property
    def is_person(self) -> bool:
        return self.role == "human"


class Action(Enum):
    ASSIGN = "assign"  # give a role stage to an idle agent of that role, or queue it
    AWAIT_OWNER = "await-owner"  # the assigned agent is on it
    SPAWN_WORKER = "spawn-worker"
    ENSURE_WORKER = "worker-busy"  # the worker is on it; respawn only if its session is gone
    BRIEF_WORKER = "brief-worker"  # a later work stage for the same worker
    COMPLETE_WORK = "complete-work"  # add the stage tag (after checking the branch)
    SPAWN_REVIEWER = "spawn-reviewer"
    AWAIT_REVIEW = "await-review"  # the reviewer is on it; respawn only if its session is gone
    NEW_ROUND = "new-round"  # the worker answered requested changes
    MERGE = "merge"
    FINISH = "finish"  # all tags present: make sure it is done and cleaned up
    WAIT = "wait"  # a gate not yet passed
    NOTHING = "nothing"  # already finished
    REFUSE = "refuse"  # the caller may not do this


@dataclass(frozen=True)
class Step:
    action: Action
    stage: Stage | None = None
    reason: str = ""
    details: dict[str, str] = field(default_factory=dict)


def select_pipeline(tags: frozenset[str] | set[str], pipelines: dict[str, Pipeline]) -> Pipeline:
    """The pipeline whose match tags the task carries, else the one without match tags."""
    matches = [p for p in pipelines.values() if p.match_tags and tags & set(p.match_tags)]
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise ValueError(f"the task's tags match several pipelines ({names}); keep tags of one")
    if matches:
        return matches[0]
    default = [p for p in pipelines.values() if not p.match_tags]
    if not default:
        known = ", ".join(f"+{t}" for p in pipelines.values() for t in p.match_tags)
        raise ValueError(f"the task matches no pipeline; add one of these tags: {known}")
    return default[0]


def stage_done(stage: Stage, task: TaskView) -> bool:
    if not set(stage.tags) <= task.tags:
        return False
    return stage.gate != "human" or stage.name in task.approved


def current_stage(pipeline: Pipeline, task: TaskView) -> Stage | None:
    """The first stage not yet done, or None when the pipeline is complete."""
    return next((s for s in pipeline.stages if not stage_done(s, task)), None)


def last_review_stage(pipeline: Pipeline, task: TaskView) -> Stage | None:
    """The latest stage whose review has started: where a verdict applies."""
    started = [s for s in pipeline.stages if s.gate == "review" and s.review_tag in task.tags]
    return started[-1] if started else None


def may_add_tag(pipeline: Pipeline, tags: frozenset[str] | set[str], tag: str) -> bool:
    """A pipeline tag may be added only when every tag before it is present."""
    order = pipeline.tags
    if tag not in order:
        return True
    return set(order[: order.index(tag)]) <= set(tags)


def next_step(task: TaskView, pipeline: Pipeline, caller: Caller) -> Step:
    if caller.role in ("worker", "reviewer") and caller.task != task.uuid:
        return Step(
            Action.REFUSE,
            reason=f"a {caller.role} may only drive its own task ({caller.task[:8] or 'none'})",
            details={"code": "forbidden"},
        )
    if task.status == "deleted":
        return Step(Action.REFUSE, reason="the task is deleted", details={"code": "not-found"})
    stage = current_stage(pipeline, task)
    if task.status == "completed":
        done = stage is None or (stage.kind == "merge" and stage.tag in task.tags)
        why = "already merged" if done else "the task was completed outside the pipeline"
        return Step(Action.NOTHING, reason=why)
    if stage is None:
        return Step(Action.FINISH, reason="every stage is done")
    if stage.kind == "merge":
        rereview = last_review_stage(pipeline, task) if task.unreviewed else None
        if rereview is not None:
            return _rereview_step(rereview, task, caller)
        return _merge_step(stage, task, caller)
    return _work_step(stage, task, caller)


def _rereview_step(stage: Stage, task: TaskView, caller: Caller) -> Step:
    """Commits landed after the approval (say, a rebase after a refused merge): the review
    lead sees them before anything merges. Tags stay; the approval is pinned to a commit."""
    if task.review_state == "reviewing":
        return Step(Action.AWAIT_REVIEW, stage, "waiting for the review lead to re-review")
    if caller.role == "reviewer":
        return Step(Action.WAIT, stage, "the branch changed after approval; waiting for the worker")
    return Step(Action.NEW_ROUND, stage, "the branch changed after approval: new review round")


def _role_step(stage: Stage, task: TaskView, caller: Caller) -> Step | None:
    """The part of a role stage before its gate; None once its tag is there."""
    if task.owner_stage != stage.name:
        if caller.role in ("worker", "reviewer"):
            return Step(Action.REFUSE, stage, "only a manager or a person starts work",
                        {"code": "forbidden"})  # fmt: skip
        return Step(Action.ASSIGN, stage, f"assign stage {stage.name} to an idle {stage.role}")
    if stage.tag in task.tags:
        return None
    if caller.name == task.owner:
        return Step(Action.COMPLETE_WORK, stage, f"finish stage {stage.name}")
    return Step(Action.AWAIT_OWNER, stage, f"{task.owner} ({stage.role}) is on stage {stage.name}")


def _work_step(stage: Stage, task: TaskView, caller: Caller) -> Step:
    if stage.role:
        step = _role_step(stage, task, caller)
        return step or _gate_step(stage, task, caller)
    if not task.worker_session:
        if caller.role in ("worker", "reviewer"):
            return Step(Action.REFUSE, stage, "only a manager or a person starts work",
                        {"code": "forbidden"})  # fmt: skip
        return Step(Action.SPAWN_WORKER, stage, f"start stage {stage.name}")
    if stage.tag not in task.tags:
        if task.briefed_stage != stage.name:
            return Step(Action.BRIEF_WORKER, stage, f"brief the worker for stage {stage.name}")
        if caller.role == "worker":
            return Step(Action.COMPLETE_WORK, stage, f"finish stage {stage.name}")
        if caller.role == "reviewer":
            return Step(Action.WAIT, stage, f"the worker has not finished {stage.name} yet")
        return Step(Action.ENSURE_WORKER, stage, f"the worker is on stage {stage.name}")
    return _gate_step(stage, task, caller)


def _gate_step(stage: Stage, task: TaskView, caller: Caller) -> Step:
    """The stage's work is done (its tag is there): what its gate needs."""
    if stage.gate == "human":
        return Step(Action.WAIT, stage, f"waiting for a person: `ttal approve {task.uuid[:8]}`")
    if stage.review_tag not in task.tags:
        return Step(Action.SPAWN_REVIEWER, stage, f"review stage {stage.name}")
    if task.review_state == "changes":
        if caller.role == "reviewer":
            return Step(Action.WAIT, stage, "waiting for the worker to address your changes")
        return Step(Action.NEW_ROUND, stage, f"review round {task.review_round}")
    return Step(
        Action.AWAIT_REVIEW, stage, f"waiting for the review lead (round {task.review_round})"
    )


def _merge_step(stage: Stage, task: TaskView, caller: Caller) -> Step:
    if caller.role == "worker":
        return Step(Action.REFUSE, stage, "a worker cannot merge; the review lead's approval does",
                    {"code": "forbidden"})  # fmt: skip
    if stage.gate == "human" and stage.name not in task.approved:
        return Step(Action.WAIT, stage, f"waiting for a person: `ttal approve {task.uuid[:8]}`")
    return Step(Action.MERGE, stage, "merge into the base branch")
