"""Budgets that stop work (`limits.budget`, docs/cost.md), checked on each watchdog pass.

Three scopes: a task (all its sessions, ever), a project per calendar day, the fleet per
calendar day; each in tokens or dollars. At 80 % the task's spawner and `human` (through
`notify`) are told, once per allowance. At 100 % the scope is stopped:

1. the stop is recorded first, so no session of the scope starts again (`refuse_spawn`, in
   every session start) and `ttal watch` restarts none of them;
2. each running session of the scope is interrupted (Escape, as a person would), then its
   tmux session is ended under the journal; its worktree, branch and uncommitted work stay;
3. each of its tasks gets `ttal_health` `budget:<scope>`;
4. the spawner and `human` are told, once, how to raise the limit or approve more.

A stop stays until a person approves more (`ttal approve TASK --budget AMOUNT`,
commands/budget.py): a new day does not lift it, and nothing restarts by itself.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from ttal import faults
from ttal.core.costs import Amount, Cost, level, spent_in
from ttal.engine import journal, mesh, usage
from ttal.engine.app import App
from ttal.errors import PreconditionFailed, TtalError


@dataclass(frozen=True)
class Scope:
    key: str  # task:<uuid>, project:<name>:<day>, fleet:<day>
    kind: str  # task, project_day, fleet_day
    label: str  # for people: "task 1a2b3c4d", "project api today"
    limit: Amount
    task: str = ""
    project: str = ""

    @property
    def health(self) -> str:
        return f"budget:{self.kind}" + (f":{self.project}" if self.project else "")


@dataclass
class Checked:
    """What a pass did about one scope (a row of `ttal watch`)."""

    scope: str
    state: str
    task: str = ""
    did: list[str] = field(default_factory=list)


def day(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(now))


def scopes(app: App, task: str = "", project: str = "") -> list[Scope]:
    """The budgeted scopes a session of `task` in `project` counts against."""
    budget, today, found = app.cfg.budget, day(), []
    if task and budget.task:
        found.append(Scope(f"task:{task}", "task", f"task {task[:8]}", budget.task, task))
    if project and budget.project_day:
        key, label = f"project:{project}:{today}", f"project {project} today"
        found.append(Scope(key, "project_day", label, budget.project_day, project=project))
    if budget.fleet_day:
        found.append(Scope(f"fleet:{today}", "fleet_day", "the fleet today", budget.fleet_day))
    return found


def spent(app: App, scope: Scope) -> Cost:
    if scope.kind == "task":
        return usage.cost_for(app, scope.task)
    return usage.cost_on(app, day(), scope.project)


def allowed(app: App, scope: Scope) -> float:
    return scope.limit.value + app.state.granted(scope.key, scope.limit.unit)


def holding(app: App, task: str = "", project: str = "") -> str:
    """The stopped scope that holds a session of `task` in `project`, or ""."""
    stops = app.state.stops()
    for key, detail in stops.items():
        kind = detail.get("kind")
        if (kind == "fleet_day" or (kind == "project_day" and project and detail.get("project")
                                    == project) or (task and key == f"task:{task}")):  # fmt: skip
            return key
    return ""


def refuse_spawn(app: App, name: str, task: str, project: str) -> None:
    """Every session start: refused while its scope is stopped or over its budget."""
    held = holding(app, task, project)  # also when limits.budget was taken out since
    if held:
        why = f"budget {held} was stopped at its limit (its worktrees are kept)"
    for scope in [] if held else scopes(app, task, project):
        used, limit = spent_in(spent(app, scope), scope.limit.unit), allowed(app, scope)
        if level(used, limit) == "over":
            held = scope.key
            why = (
                f"budget {held} is used up ({_show(used, scope)} of {_show(limit, scope)}); "
                "`ttal watch` stops its sessions, keeping their worktrees"
            )
            break
    if held:
        raise PreconditionFailed(f"{name} was not started: {why}",
                                 hint=raise_hint(task or "TASK", held))  # fmt: skip


def raise_hint(task: str, scope: str) -> str:
    kind = scope.split(":", 1)[0]
    key = {"task": "task", "project": "project_day", "fleet": "fleet_day"}[kind]
    return (
        f"from your own shell: `ttal approve {task[:8]} --budget AMOUNT` (e.g. $5 or "
        f"500k) lets it go on; or raise limits.budget.{key} in ttal.yaml"
    )


# ---- the watchdog's pass -------------------------------------------------------------------


def check(app: App, live: set[str]) -> list[Checked]:
    """Read the new usage, then warn about and stop what is over its budget."""
    usage.read_all(app, live)
    if not app.cfg.budget.any:
        return []
    done = [_check_safely(app, s, live) for s in _watched_scopes(app, live)]
    return [c for c in done if c.did]


def _check_safely(app: App, scope: Scope, live: set[str]) -> Checked:
    try:
        return _check_scope(app, scope, live)
    except TtalError as err:  # one scope's trouble (tmux, Taskwarrior) must not stop the pass
        app.state.event("budget-error", scope.task, "ttal", f"{scope.key}: {err.message}")
        return Checked(scope.key, "error", scope.task, [err.message])


def _watched_scopes(app: App, live: set[str]) -> list[Scope]:
    """The scopes of the sessions running now, and of those already stopped."""
    seen: dict[str, Scope] = {}
    running = [app.state.latest_session(name) for name in sorted(live)]
    for session in [s for s in running if s is not None]:
        for scope in scopes(app, session.task, session.project):
            seen.setdefault(scope.key, scope)
    for key, detail in app.state.stops().items():
        for scope in scopes(app, detail.get("task", ""), detail.get("project", "")):
            if scope.key == key:
                seen.setdefault(key, scope)
    return list(seen.values())


def _check_scope(app: App, scope: Scope, live: set[str]) -> Checked:
    cost, limit = spent(app, scope), allowed(app, scope)
    used = spent_in(cost, scope.limit.unit)
    state = f"{_show(used, scope)} of {_show(limit, scope)}"
    checked = Checked(scope.key, state, scope.task)
    where = level(used, limit)
    if where == "warn":
        _tell(app, scope, f"budget-warn:{scope.key}:{limit!r}", _warn_text(scope, state), checked)
    elif where == "over" or scope.key in app.state.stops():
        _stop(app, scope, live, state, checked)
    return checked


def _stop(app: App, scope: Scope, live: set[str], state: str, checked: Checked) -> None:
    detail = {"kind": scope.kind, "task": scope.task, "project": scope.project, "spent": state}
    if app.state.stop_scope(scope.key, detail):
        app.state.event("budget-stopped", scope.task, "ttal", f"{scope.key}: {state}")
        checked.did.append(f"stopped {scope.label}: {state}")
    faults.point("budget.stopped")  # a crash here: the next pass ends, marks and tells
    names = _sessions_in(app, scope, live)
    # Remembered before any session ends: a crash after the kills still marks their tasks.
    known = app.state.stops().get(scope.key, {})
    tasks = {s.task for s in names if s.task} | set(known.get("tasks", []))
    tasks |= {scope.task} if scope.task else set()
    if tasks - set(known.get("tasks", [])):
        app.state.stop_detail(scope.key, {**known, "tasks": sorted(tasks)})
    for session in names:
        if _end(app, session.name, scope, session.task):
            checked.did.append(f"ended {session.name} (worktree kept)")
    for uuid in sorted(tasks):
        _mark(app, uuid, scope, checked)
    text = _stop_text(scope, state, [s.name for s in names])
    _tell(app, scope, f"budget-stop:{scope.key}", text, checked, tasks)


def _sessions_in(app: App, scope: Scope, live: set[str]) -> list[Any]:
    found = []
    for name in sorted(live):
        session = app.state.latest_session(name)
        if session is None:
            continue  # not started by ttal
        if (scope.kind == "fleet_day" or (scope.kind == "task" and session.task == scope.task)
                or (scope.kind == "project_day" and session.project == scope.project)):  # fmt: skip
            found.append(session)
    return found


def _end(app: App, name: str, scope: Scope, task: str) -> bool:
    """Interrupt the runtime's turn as a person would (Escape), then end the session."""
    pane = app.tmux.agent_pane(name)
    if pane is None:
        return False
    with journal.intent(app, "session.kill", f"budget:{scope.key}:{name}", task, name=name):
        app.tmux.call("send-keys", "-t", pane.id, "Escape")
        time.sleep(0.5)  # a moment to stop its turn and write its transcript
        return app.tmux.kill(name)


def _mark(app: App, uuid: str, scope: Scope, checked: Checked) -> None:
    try:
        task = app.tw.get(uuid)
    except TtalError:
        return
    if task.get("status") == "pending" and task.get("ttal_health") != scope.health:
        app.tw.set(uuid, ttal_health=scope.health)
        checked.did.append(f"marked task {uuid[:8]} {scope.health}")


def _tell(app: App, scope: Scope, key: str, text: str, checked: Checked,
          tasks: set[str] | None = None) -> None:  # fmt: skip
    recipients = {"human"}
    for uuid in tasks or ({scope.task} if scope.task else set()):
        with suppress(TtalError):
            recipients.add(str(app.tw.get(uuid).get("ttal_spawner") or "human"))
    for who in sorted(recipients):
        if mesh.tell(app, who, text, key=f"{key}:{who}", task=scope.task, sender="ttal"):
            checked.did.append(f"told {who}")


def _show(value: float, scope: Scope) -> str:
    return Amount(value, scope.limit.unit).show()


def _warn_text(scope: Scope, state: str) -> str:
    return (
        f"Budget: {scope.label} has used {state} (80 %). At 100 % ttal stops its "
        f"sessions (worktrees kept) until a person approves more: "
        f"{raise_hint(scope.task or 'TASK', scope.key)}."
    )


def _stop_text(scope: Scope, state: str, names: list[str]) -> str:
    ended = f"ended {', '.join(names)}" if names else "no session was running"
    return (
        f"Budget: {scope.label} has used {state}; ttal stopped it: {ended}. Worktrees, "
        f"branches and uncommitted changes are kept, and nothing in it starts again "
        f"until a person approves more: {raise_hint(scope.task or 'TASK', scope.key)}."
    )
