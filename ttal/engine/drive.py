"""`ttal go`: look at the task, decide the next step, do it; repeat until it must wait.

The task's file lock makes concurrent `ttal go` on one task take turns; each reads the task
once under the lock and does only what is missing, so 16 racing calls give exactly one
worker. The read is carried through the turns (Taskwarrior.carry): each turn decides from
the task as that read and this run's own writes left it, and the writes go out together
in one `task` call (docs/speed.md counts them: at most 8 for a task's whole life).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ttal.adapters import locks, task_hooks
from ttal.core.pipeline import Action, Stage, Step, current_stage, next_step
from ttal.core.task_view import TaskView
from ttal.engine import reconcile, review_rounds, workers
from ttal.engine.app import App
from ttal.engine.lookup import (
    branch_unreviewed,
    check_paths,
    pipeline_for,
    project_for,
    resolve_uuid,
    task_view,
)
from ttal.engine.recovery import recover
from ttal.errors import Exit, Forbidden, NotFound, Waiting

MAX_TURNS = 12


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


# A step a command takes before the turns, on the task as read under its lock (`ttal
# approve` records the approval): an Outcome to stop with, or None to drive on.
First = Callable[[App, dict[str, Any]], "Outcome | None"]


def go(app: App, ref: str | None, note: str = "", first: First | None = None) -> Outcome:
    # The hook's rules first: they touch no task, and a read-only data dir is then refused
    # with one message on 2.6 and 3.x (3.x cannot even read it, so ensure_ready would fail
    # first with Taskwarrior's own error there).
    task_hooks.refresh_rules(app.cfg)
    app.tw.ensure_ready()  # before anything changes: a store without ttal's UDAs or hooks
    uuid = resolve_uuid(app, ref)  # a full uuid needs no lookup: the loop reads the task
    with locks.held(locks.task_lock(app.lock_dir, uuid)):
        settled = recover(app, uuid)  # what a crashed run of this task left half done
        outcome = _drive(app, uuid, note, first)
    outcome.did[:0] = [f"recovered #{s['id']} {s['action']}: {s['note']}" for s in settled]
    return outcome


def _drive(app: App, uuid: str, note: str, first: First | None = None) -> Outcome:
    outcome = Outcome(task=uuid)
    # One read, with ttal's writes that a person's report undid; the turns carry it.
    with app.tw.carry(reconcile.read(app, uuid)) as held:
        if first is not None and (stop := first(app, held.row)) is not None:
            return stop
        for _ in range(MAX_TURNS):
            if not _turn(app, held.row, note, outcome):
                break
            note = ""  # a note belongs to the first step that records the caller's work
    return outcome


def _turn(app: App, task: dict[str, Any], note: str, outcome: Outcome) -> bool:
    """Decide and take one step on the task as held; False when the run stops here."""
    outcome.description = str(task.get("description", ""))
    pipeline = pipeline_for(app, task)
    view = task_view(task)
    check_paths(app, view)  # before anything acts on its branch or worktree
    if (here := current_stage(pipeline, view)) and here.kind == "merge":
        view = replace(view, unreviewed=branch_unreviewed(app, view))
    step = next_step(view, pipeline, app.caller)
    stage = current_stage(pipeline, view)
    outcome.state = stage.name if stage else "merged"
    return HANDLERS[step.action](app, Turn(view, step, note), outcome)


@dataclass(frozen=True)
class Turn:
    """One step of the loop: the task as read this turn, and what the pipeline says."""

    task: TaskView
    step: Step
    note: str

    @property
    def stage(self) -> Stage:
        """The stage the step acts on; every action but refuse, nothing, wait and finish
        has one (core/pipeline.next_step)."""
        assert self.step.stage is not None, self.step
        return self.step.stage


# A handler does one step: True to take the next turn, False when the task must wait, is
# finished, or is in an agent's hands.
Handler = Callable[[App, Turn, Outcome], bool]


def _refuse(app: App, turn: Turn, outcome: Outcome) -> bool:
    kind = NotFound if turn.step.details.get("code") == "not-found" else Forbidden
    raise kind(f"task {turn.task.short}: {turn.step.reason}; nothing was changed")


def _stop(app: App, turn: Turn, outcome: Outcome) -> bool:
    outcome.message = turn.step.reason
    return False


def _wait_step(app: App, turn: Turn, outcome: Outcome) -> bool:
    _wait(outcome, turn.step.reason)
    return False


def _finish(app: App, turn: Turn, outcome: Outcome) -> bool:
    from ttal.engine import merge  # the merge's half is imported only when a task gets there

    outcome.did.append(merge.finish(app, turn.task))
    return True


def _ensure_worker(app: App, turn: Turn, outcome: Outcome) -> bool:
    outcome.message = workers.ensure_worker(app, turn.task, turn.stage)
    return False


def _await_review(app: App, turn: Turn, outcome: Outcome) -> bool:
    restarted = review_rounds.await_review(app, turn.task, turn.stage)
    if restarted:
        outcome.did.append(restarted)
    _wait(outcome, turn.step.reason)
    return False


def _acting(do: Callable[[App, Turn], str], hands_over: bool = False) -> Handler:
    """A step that changes the world and says what it did. `hands_over`: afterwards the
    stage belongs to an agent; going on in this process could act as that agent (an
    assignment made while the assignee reports idle would complete its own stage)."""

    def handle(app: App, turn: Turn, outcome: Outcome) -> bool:
        try:
            outcome.did.append(do(app, turn))
        except Waiting as err:  # e.g. limits.max_workers: stop here; retrying re-hits the limit
            _wait(outcome, err.message)
            return False
        if hands_over:
            outcome.message = f"{turn.stage.name} is in an agent's hands now"
            return False
        return True

    return handle


# Modules only some steps need stay out of every `ttal go` start (bench/).
def _assign(app: App, turn: Turn) -> str:
    from ttal.engine import routing

    return routing.assign(app, turn.task, turn.stage)


def _complete(app: App, turn: Turn) -> str:
    did = workers.complete_work(app, turn.task, turn.stage, turn.note)
    if turn.stage.commits and project_for(app, turn.task).merge != "local":
        from ttal.engine import forge_flow  # the PR, when it opens at +coded (docs/forges.md)

        did = "; ".join([did, *forge_flow.coded(app, turn.task.uuid)])
    return did


def _merge(app: App, turn: Turn) -> str:
    from ttal.engine import merge

    if project_for(app, turn.task).merge != "local":  # through the forge (docs/forges.md)
        from ttal.engine import forge_flow

        return forge_flow.merge_task(app, turn.task, turn.stage)
    from ttal.engine import merge_queue

    if (grp := merge_queue.applies(app, turn.task)) is not None:  # a check, batch or group
        return merge_queue.queue_merge(app, turn.task, turn.stage, grp)
    return merge.merge_task(app, turn.task, turn.stage)


HANDLERS: dict[Action, Handler] = {
    Action.REFUSE: _refuse,
    Action.NOTHING: _stop,
    Action.WAIT: _wait_step,
    Action.FINISH: _finish,
    Action.AWAIT_OWNER: _stop,
    Action.ENSURE_WORKER: _ensure_worker,
    Action.AWAIT_REVIEW: _await_review,
    Action.SPAWN_WORKER: _acting(
        lambda app, t: workers.spawn_worker(app, t.task, t.stage), hands_over=True
    ),
    Action.BRIEF_WORKER: _acting(
        lambda app, t: workers.brief_worker(app, t.task, t.stage), hands_over=True
    ),
    Action.ASSIGN: _acting(_assign, hands_over=True),
    Action.COMPLETE_WORK: _acting(_complete),
    Action.SPAWN_REVIEWER: _acting(
        lambda app, t: review_rounds.spawn_reviewer(app, t.task, t.stage)
    ),
    Action.NEW_ROUND: _acting(lambda app, t: review_rounds.new_round(app, t.task, t.stage, t.note)),
    Action.MERGE: _acting(_merge),
}


def _wait(outcome: Outcome, reason: str) -> None:
    outcome.message = reason
    if not outcome.did:
        outcome.exit_code = Exit.WAITING
