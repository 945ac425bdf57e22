"""`ttal context`: who this agent is, its task and what waits for it, in a few lines.

Claude Code's SessionStart hook runs it (adapters/runtimes/claude_config.py) and adds what it
prints (ttal/cli/render.py words it) to the conversation, on start and again after a resume,
/clear or compaction, so an agent never loses track of who it is. Kept small: it is read on
every session start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ttal.engine.app import App
from ttal.errors import TtalError

NEXT = {
    "worker": 'when done: commit, then `ttal go`; blocked: `ttal alert "<what you need>"`',
    "reviewer": 'verdict: `ttal review approve --note "<why>"` or `ttal review changes "<what>"`',
}
MANAGER_NEXT = 'messages arrive as "[ttal #N from NAME]"; reply: `ttal send --to NAME "..."`'
SHOWN_TASKS = 10  # a manager's active tasks listed


@dataclass(frozen=True)
class Queued:
    id: int
    sender: str
    first_line: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.sender, "first_line": self.first_line}


@dataclass(frozen=True)
class Briefing:
    """Who the caller is and what waits for it; no agent (a person's shell) when agent is
    empty. Facts about tasks are Taskwarrior's fields, as many as are set."""

    agent: str
    role: str
    task: dict[str, Any] | None = None  # a worker's or review lead's task
    tasks: list[dict[str, Any]] | None = None  # a manager's active tasks
    queued: list[Queued] = field(default_factory=list)
    diary: list[str] = field(default_factory=list)  # its tail, newest last
    next: str = ""

    def as_dict(self) -> dict[str, Any]:
        if not self.agent:
            return {"agent": "", "role": self.role}
        data: dict[str, Any] = {"agent": self.agent, "role": self.role}
        if self.task is not None:
            data["task"] = self.task
        if self.tasks is not None:
            data["tasks"] = self.tasks
        return {**data, "queued": [q.as_dict() for q in self.queued], "diary": self.diary,
                "next": self.next}  # fmt: skip


def context(app: App) -> Briefing:
    caller = app.caller
    if caller.is_person:
        return Briefing("", "human")
    from ttal.engine.agents import diary_tail

    queued = [Queued(m.id, m.sender, m.body.split("\n")[0][:120])
              for m in app.state.messages(caller.name, undelivered=True)]  # fmt: skip
    return Briefing(
        caller.name,
        caller.role,
        task=_task(app, caller.task) if caller.task else None,
        # a manager: what it started, and role stages assigned to it
        tasks=None if caller.task else _active(app, caller.name),
        queued=queued,
        diary=diary_tail(app, caller.name),
        next=NEXT.get(caller.role, MANAGER_NEXT),
    )


def _task(app: App, uuid: str) -> dict[str, Any]:
    try:
        task = app.tw.get(uuid)
    except TtalError as err:
        return {"uuid": uuid, "error": str(err).splitlines()[0]}
    keys = ("description", "project", "ttal_stage", "ttal_round", "ttal_branch", "ttal_worktree")
    found = {k.removeprefix("ttal_"): task[k] for k in keys if task.get(k)}
    return {"uuid": uuid, "status": task.get("status", ""), "tags": task.get("tags", []),
            **found, "expects": _expects(app, task)}  # fmt: skip


def _active(app: App, name: str) -> list[dict[str, Any]]:
    """Pending tasks this agent spawned or owns a stage of, with what the pipeline expects."""
    try:
        found = app.tw.export("status:pending", "(", f"ttal_spawner.is:{name}", "or",
                              f"ttal_owner.is:{name}", ")")  # fmt: skip
    except TtalError as err:
        return [{"uuid": "", "error": str(err).splitlines()[0]}]
    return [
        {
            "uuid": t["uuid"],
            "description": t.get("description", ""),
            "stage": t.get("ttal_stage", ""),
            "owner": t.get("ttal_owner") == name,
            "expects": _expects(app, t),
        }
        for t in sorted(found, key=lambda t: str(t.get("entry", "")))
        if name in (t.get("ttal_spawner"), t.get("ttal_owner"))
    ][:SHOWN_TASKS]


def _expects(app: App, task: dict[str, Any]) -> str:
    """The pipeline's next step for this caller, in its own words (ttal.core.pipeline)."""
    from ttal.core.pipeline import next_step
    from ttal.engine.lookup import pipeline_for, task_view

    try:
        return next_step(task_view(task), pipeline_for(app, task), app.caller).reason
    except TtalError as err:
        return str(err).splitlines()[0]
