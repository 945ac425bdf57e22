"""What a step will do to the world, worked out before anything is touched: small frozen
plans built from a TaskView, the stage and the configuration. No subprocess, no file: the
engine (engine/apply.py) carries a plan out under the journal, in the plan's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ttal.core import prompts
from ttal.core.pipeline import Stage
from ttal.core.task_view import TaskView
from ttal.errors import PreconditionFailed


def worker_session_name(uuid: str) -> str:
    return f"w-{uuid[:8]}"


def reviewer_session_name(uuid: str, stage: str) -> str:
    return f"r-{uuid[:8]}-{stage}"


def reviewing(head: str) -> str:
    """ttal_review during a round: `reviewing:<the commit the review lead was given>`; its
    verdict is refused if the worktree is not that commit, clean (commands/review.py)."""
    return f"reviewing:{head}" if head else "reviewing"


def session_meta(task: TaskView, stage: Stage, rnd: int = 0) -> dict[str, str | int]:
    """The facts an agent's prompt sidecar (.json) carries."""
    return {
        "uuid": task.uuid,
        "short": task.short,
        "description": task.description,
        "project": task.project,
        "stage": stage.name,
        "round": rnd,
    }


@dataclass(frozen=True)
class Workplace:
    """Where a task's work happens: its project's repo and base branch."""

    project: str
    repo: Path
    base: str
    worktree_root: Path  # new worktrees go under <root>/<project>/


@dataclass(frozen=True)
class SpawnPlan:
    """Start a worker: record the facts, add the worktree, start the session, then record
    the session on the task (and `task start` it) in one write."""

    uuid: str
    stage: str
    session: str
    branch: str
    worktree: Path
    where: Workplace
    runtime: str
    facts: dict[str, str]  # facts not yet on the task: written first, so a crash knows them
    prompt: str
    meta: dict[str, str | int]
    start: bool  # the task is not started yet

    def session_facts(self, session_id: str) -> dict[str, str]:
        """The write that follows a started session."""
        updates = {"ttal_session": self.session, "ttal_stage": self.stage}
        if session_id:
            updates["ttal_session_id"] = session_id
        if self.start:
            updates["start"] = "now"  # `task start` in the same write
        return updates


def plan_spawn(task: TaskView, stage: Stage, where: Workplace, agent: str, runtime: str,
               spawner: str, new_branch: str) -> SpawnPlan:  # fmt: skip
    """`new_branch`: the branch name for a task that has none yet (git.branch_name)."""
    branch = task.branch or new_branch
    default = where.worktree_root / where.project / branch.removeprefix("ttal/")
    worktree = Path(task.worktree or default)
    facts = {"ttal_branch": branch, "ttal_worktree": str(worktree), "ttal_agent": agent,
             "ttal_runtime": runtime, "ttal_spawner": spawner}  # fmt: skip
    have = {"ttal_branch": task.branch, "ttal_worktree": task.worktree, "ttal_agent": task.agent,
            "ttal_runtime": task.runtime, "ttal_spawner": task.spawner}  # fmt: skip
    return SpawnPlan(
        uuid=task.uuid,
        stage=stage.name,
        session=worker_session_name(task.uuid),
        branch=branch,
        worktree=worktree,
        where=where,
        runtime=runtime,
        facts={k: v for k, v in facts.items() if not have[k]},
        prompt=prompts.worker_prompt(task, stage, where.base, branch),
        meta=session_meta(task, stage),
        start=not task.started,
    )


@dataclass(frozen=True)
class Message:
    """A message to an agent (or a person), sent once per key."""

    to: str
    text: str
    key: str
    sender: str = ""  # "" for the caller


@dataclass(frozen=True)
class BriefPlan:
    """A later work stage for the same worker: tell it, then record the stage."""

    uuid: str
    stage: str
    message: Message


def plan_brief(task: TaskView, stage: Stage) -> BriefPlan:
    session = task.worker_session or worker_session_name(task.uuid)
    text = prompts.brief(stage, task.short)
    key = f"brief:{task.uuid}:{stage.name}"
    return BriefPlan(task.uuid, stage.name, Message(session, text, key, "ttal"))


@dataclass(frozen=True)
class CompletePlan:
    """The worker's stage is done: an optional note, then its tag."""

    uuid: str
    tag: str
    annotation: str = ""


def plan_complete(task: TaskView, stage: Stage, caller: str, note: str) -> CompletePlan:
    annotation = f"{stage.name} by {caller}: {note}" if note else ""
    return CompletePlan(task.uuid, stage.tag, annotation)


@dataclass(frozen=True)
class ReviewerPlan:
    """Start (or restart) a review lead's read-only session."""

    uuid: str
    session: str
    runtime: str
    workdir: Path
    prompt: str
    meta: dict[str, str | int]


def plan_reviewer(task: TaskView, stage: Stage, where: Workplace, runtime: str, rnd: int,
                  worktree_exists: bool) -> ReviewerPlan:  # fmt: skip
    """`worktree_exists`: a role stage (a plan) can come before any worktree exists; its
    review lead then works in the repo."""
    workdir = Path(task.worktree or where.repo) if worktree_exists else where.repo
    return ReviewerPlan(
        uuid=task.uuid,
        session=reviewer_session_name(task.uuid, stage.name),
        runtime=runtime,
        workdir=workdir,
        prompt=prompts.reviewer_prompt(task, stage, where.base, task.branch, rnd),
        meta=session_meta(task, stage, rnd),
    )


@dataclass(frozen=True)
class ReviewStartPlan:
    """The first review round: start the review lead, then record it with the review tag."""

    reviewer: ReviewerPlan
    modify: tuple[str, ...]  # `task modify` arguments, one write
    review_tag: str


def plan_review_start(reviewer: ReviewerPlan, stage: Stage, head: str) -> ReviewStartPlan:
    modify = (f"ttal_reviewer:{reviewer.session}", f"ttal_review:{reviewing(head)}",
              "ttal_round:1", f"+{stage.review_tag}")  # fmt: skip
    return ReviewStartPlan(reviewer, modify, stage.review_tag)


@dataclass(frozen=True)
class NewRoundPlan:
    """The worker answered requested changes: note, mark the round under review, make sure
    the review lead runs, and tell it."""

    uuid: str
    round: int
    review: str  # the new ttal_review
    reviewer: str  # its session
    message: Message
    annotation: str = ""


def plan_new_round(task: TaskView, stage: Stage, head: str, caller: str,
                   note: str) -> NewRoundPlan:  # fmt: skip
    """`head`: the worktree's HEAD ("" for a stage without commits)."""
    if stage.commits and task.review_commit and head == task.review_commit:
        raise PreconditionFailed(
            "no new commit since the review lead asked for changes; nothing was changed",
            hint="address the requested changes, commit, then run `ttal go`",
        )
    rnd = task.review_round or 1
    reviewer = task.reviewer or reviewer_session_name(task.uuid, stage.name)
    text = prompts.new_round_note(task.short, rnd, head or "(no commits)")
    key = f"round:{task.uuid}:{stage.name}:{rnd}"
    annotation = f"{stage.name} round {rnd} by {caller}: {note}" if note else ""
    return NewRoundPlan(task.uuid, rnd, reviewing(head), reviewer, Message(reviewer, text, key),
                        annotation)  # fmt: skip


@dataclass(frozen=True)
class MergePlan:
    """Merge the task's branch into its base, then add the merge stage's tag."""

    uuid: str
    branch: str
    worktree: Path
    where: Workplace
    message: str  # the merge commit's
    tag: str


def plan_merge(task: TaskView, stage: Stage, where: Workplace) -> MergePlan:
    message = f"Merge {task.branch}: {task.description} (ttal task {task.short})"
    return MergePlan(task.uuid, task.branch, Path(task.worktree), where, message, stage.tag)


@dataclass(frozen=True)
class AssignPlan:
    """Give a role stage to an idle agent: record the owner, tell it."""

    uuid: str
    stage: str
    owner: str
    facts: dict[str, str]
    message: Message


def plan_assign(task: TaskView, stage: Stage, owner: str, caller: str) -> AssignPlan:
    facts = {"ttal_owner": owner, "ttal_owner_stage": stage.name}
    if not task.spawner:
        facts["ttal_spawner"] = caller
    notes = "; ".join(task.annotations)
    text = (
        f"Task {task.short} ({task.project}): {task.description}\n"
        f"Stage {stage.name} is yours." + (f" Notes: {notes}" if notes else "") + "\n"
        f'When done: ttal go {task.uuid} --note "<your result>"'
    )
    key = f"assign:{task.uuid}:{stage.name}"
    return AssignPlan(task.uuid, stage.name, owner, facts, Message(owner, text, key, "ttal"))
