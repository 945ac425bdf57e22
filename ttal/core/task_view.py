"""A task as the step logic sees it: the facts ttal reads from one `task export` row, typed.

A `ttal go` turn reads its task once and carries this view through its plan; the raw row
stays in the adapter (Taskwarrior) and in the few places that write it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskView:
    """The facts about a task that the step logic needs."""

    uuid: str
    status: str  # pending, completed, deleted, waiting, recurring
    tags: frozenset[str] = frozenset()
    worker_session: str = ""  # set once a worker has been spawned
    briefed_stage: str = ""  # the stage the worker was last briefed for
    review_state: str = ""  # "" | "reviewing" | "changes" | "approved"
    review_round: int = 0
    approved: frozenset[str] = frozenset()  # stages a human approved (human gates)
    unreviewed: bool = False  # the branch tip is not the commit the review lead approved
    owner: str = ""  # the persistent agent a role stage was assigned to
    owner_stage: str = ""  # the stage it was assigned for
    description: str = ""
    project: str = ""
    branch: str = ""  # ttal_branch: the worker's branch
    worktree: str = ""  # ttal_worktree: where the branch is checked out
    agent: str = ""  # ttal_agent: the configured agent that works on it
    runtime: str = ""  # ttal_runtime
    spawner: str = ""  # ttal_spawner: who gets told about it
    reviewer: str = ""  # ttal_reviewer: the review lead's session
    review_commit: str = ""  # the commit a review round was given (ttal_review `state:commit`)
    reviewed: str = ""  # ttal_reviewed: the commit the review lead approved
    started: bool = False  # `task start` was run on it
    annotations: tuple[str, ...] = ()
    health: str = ""  # ttal_health
    pr: str = ""  # ttal_pr: the URL of the task's pull request (projects that merge: github)
    entry: str = ""  # when it was entered, as Taskwarrior writes it (`20261202T101500Z`)

    @property
    def short(self) -> str:
        return self.uuid[:8]


def read_task(task: dict[str, Any], unreviewed: bool = False) -> TaskView:
    """The view of one `task export` row."""
    approved = str(task.get("ttal_approved") or "")
    state, _, commit = str(task.get("ttal_review") or "").partition(":")
    return TaskView(
        uuid=task["uuid"],
        status=str(task.get("status", "pending")),
        tags=frozenset(task.get("tags") or []),
        worker_session=_text(task, "ttal_session"),
        briefed_stage=_text(task, "ttal_stage"),
        review_state=state,
        review_round=int(task.get("ttal_round") or 0),
        approved=frozenset(a for a in approved.split(",") if a),
        unreviewed=unreviewed,
        owner=_text(task, "ttal_owner"),
        owner_stage=_text(task, "ttal_owner_stage"),
        description=str(task.get("description", "")),
        project=_text(task, "project"),
        branch=_text(task, "ttal_branch"),
        worktree=_text(task, "ttal_worktree"),
        agent=_text(task, "ttal_agent"),
        runtime=_text(task, "ttal_runtime"),
        spawner=_text(task, "ttal_spawner"),
        reviewer=_text(task, "ttal_reviewer"),
        review_commit=commit,
        reviewed=_text(task, "ttal_reviewed"),
        started=bool(task.get("start")),
        annotations=tuple(str(a.get("description", "")) for a in task.get("annotations") or []),
        health=_text(task, "ttal_health"),
        pr=_text(task, "ttal_pr"),
        entry=_text(task, "entry"),
    )


def _text(task: dict[str, Any], key: str) -> str:
    return str(task.get(key) or "")


def depends_of(task: dict[str, Any]) -> list[str]:
    """A task's `depends:` uuids (a string on Taskwarrior 2.6, a list on 3.x)."""
    found = task.get("depends") or []
    return [d for d in (found.split(",") if isinstance(found, str) else found) if d]
