"""`ttal go`: look at the task, decide the next step, do it; repeat until it must wait.

The task's file lock makes concurrent `ttal go` on one task take turns; each turn re-reads
the task and does only what is missing, so 16 racing calls give exactly one worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ttal.adapters import locks, task_hooks
from ttal.core.pipeline import Action, Step, current_stage, next_step
from ttal.engine import steps
from ttal.engine.app import App
from ttal.engine.lookup import branch_unreviewed, pipeline_for, resolve_task, task_view
from ttal.engine.recovery import recover
from ttal.errors import Exit, Forbidden, NotFound, Waiting

FULL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_TURNS = 12
# After these the stage belongs to an agent. Going on in this process could act as that
# agent (an assignment made while the assignee reports idle would complete its own stage).
HANDED_OVER = (Action.SPAWN_WORKER, Action.ASSIGN, Action.BRIEF_WORKER)


@dataclass
class Outcome:
    task: str
    description: str = ""
    did: list[str] = field(default_factory=list)
    state: str = ""
    message: str = ""
    exit_code: int = Exit.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "description": self.description,
            "did": self.did,
            "state": self.state,
            "message": self.message,
            "exit_code": int(self.exit_code),
        }


def go(app: App, ref: str | None, note: str = "") -> Outcome:
    task_hooks.refresh_rules(app.cfg)
    # A full uuid needs no lookup: the loop reads the task under its lock anyway.
    uuid = ref if ref and FULL_UUID.match(ref) else resolve_task(app, ref)["uuid"]
    with locks.held(locks.task_lock(app.lock_dir, uuid)):
        settled = recover(app, uuid)  # what a crashed run of this task left half done
        outcome = _drive(app, uuid, note)
    outcome.did[:0] = [f"recovered #{s['id']} {s['action']}: {s['note']}" for s in settled]
    return outcome


def _drive(app: App, uuid: str, note: str) -> Outcome:
    outcome = Outcome(task=uuid)
    for _ in range(MAX_TURNS):
        task = app.tw.get(uuid)
        outcome.description = str(task.get("description", ""))
        pipeline = pipeline_for(app, task)
        view = task_view(task)
        if (here := current_stage(pipeline, view)) and here.kind == "merge":
            view = task_view(task, unreviewed=branch_unreviewed(app, task))
        step = next_step(view, pipeline, app.caller)
        stage = current_stage(pipeline, view)
        outcome.state = stage.name if stage else "merged"
        if not _take(app, task, step, note, outcome):
            break
        note = ""  # a note belongs to the first step that records the caller's work
    return outcome


def _take(app: App, task: dict[str, Any], step: Step, note: str, outcome: Outcome) -> bool:
    """Do one step. True to keep going, False when the task must wait or is finished."""
    stage, act = step.stage, step.action
    if act is Action.REFUSE:
        kind = NotFound if step.details.get("code") == "not-found" else Forbidden
        raise kind(f"task {task['uuid'][:8]}: {step.reason}; nothing was changed")
    if act is Action.NOTHING:
        outcome.message = step.reason
        return False
    if act is Action.WAIT:
        _wait(outcome, step.reason)
        return False
    if act is Action.FINISH:
        from ttal.engine import merge  # the merge's half is imported only when a task gets there

        outcome.did.append(merge.finish(app, task))
        return True
    assert stage is not None
    if act is Action.AWAIT_OWNER:
        outcome.message = step.reason
        return False
    if act is Action.ENSURE_WORKER:
        outcome.message = steps.ensure_worker(app, task, stage)
        return False
    if act is Action.AWAIT_REVIEW:
        restarted = steps.await_review(app, task, stage)
        if restarted:
            outcome.did.append(restarted)
        _wait(outcome, step.reason)
        return False
    try:
        outcome.did.append(_act(app, task, step, stage, note))
    except Waiting as err:  # e.g. limits.max_workers: stop here; retrying re-hits the limit
        _wait(outcome, err.message)
        return False
    if act in HANDED_OVER:
        outcome.message = f"{stage.name} is in an agent's hands now"
        return False
    return True


def _act(app: App, task: dict[str, Any], step: Step, stage: Any, note: str) -> str:
    handlers = {
        Action.SPAWN_WORKER: lambda: steps.spawn_worker(app, task, stage),
        Action.BRIEF_WORKER: lambda: steps.brief_worker(app, task, stage),
        Action.COMPLETE_WORK: lambda: steps.complete_work(app, task, stage, note),
        Action.SPAWN_REVIEWER: lambda: steps.spawn_reviewer(app, task, stage),
        Action.NEW_ROUND: lambda: steps.new_round(app, task, stage, note),
        Action.ASSIGN: lambda: _assign(app, task, stage),
        Action.MERGE: lambda: _merge(app, task, stage),
    }
    return handlers[step.action]()


# Modules only some steps need stay out of every `ttal go` start (bench/).
def _assign(app: App, task: dict[str, Any], stage: Any) -> str:
    from ttal.engine import routing

    return routing.assign(app, task, stage)


def _merge(app: App, task: dict[str, Any], stage: Any) -> str:
    from ttal.engine import merge

    return merge.merge_task(app, task, stage)


def _wait(outcome: Outcome, reason: str) -> None:
    outcome.message = reason
    if not outcome.did:
        outcome.exit_code = Exit.WAITING
