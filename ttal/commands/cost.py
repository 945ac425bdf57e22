"""`ttal cost [TASK]`: tokens and dollars per task and stage; `ttal approve TASK --budget
AMOUNT`: a person lets a task stopped at its budget go on (docs/cost.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ttal.core.costs import Amount, Cost, parse_amount
from ttal.engine import budgets, usage
from ttal.engine.app import App
from ttal.engine.lookup import resolve_task
from ttal.errors import Forbidden, UsageError


@dataclass(frozen=True)
class TaskCost:
    uuid: str
    description: str
    total: Cost
    stages: dict[str, Cost]

    def as_dict(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "description": self.description, **self.total.as_dict(),
                "stages": {k: v.as_dict() for k, v in self.stages.items()}}  # fmt: skip


@dataclass(frozen=True)
class CostReport:
    tasks: list[TaskCost]
    today: Cost  # every session of the fleet since local midnight
    stops: list[str]  # budget scopes stopped now

    def as_dict(self) -> dict[str, Any]:
        return {"tasks": [t.as_dict() for t in self.tasks], "today": self.today.as_dict(),
                "stops": self.stops}  # fmt: skip


def cost(app: App, ref: str = "") -> CostReport:
    """Read what is new in the session files, then the figures: one task's, or those of
    every task that used any tokens."""
    usage.read_all(app)
    if ref:
        found = [app.tw.get(ref)]
    else:
        spent = usage.cost_by_task(app)
        found = app.tw.export(*[u for u in spent if u]) if any(spent) else []
        found = [t for t in found if t["uuid"] in spent]
    rows = [TaskCost(t["uuid"], str(t.get("description", "")), usage.cost_for(app, t["uuid"]),
                     usage.cost_by_stage(app, t["uuid"])) for t in found]  # fmt: skip
    rows.sort(key=lambda r: (r.total.usd, r.total.tokens), reverse=True)
    return CostReport(rows, usage.cost_on(app, budgets.day()), sorted(app.state.stops()))


@dataclass
class BudgetApproved:
    task: str
    amount: Amount
    lifted: list[str] = field(default_factory=list)  # scopes no longer stopped
    granted: list[str] = field(default_factory=list)  # scopes given the amount more

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "amount": self.amount.value, "unit": self.amount.unit,
                "granted": self.granted, "lifted": self.lifted}  # fmt: skip


def approve_budget(app: App, ref: str, amount_text: str) -> BudgetApproved:
    """A person approves `amount` more for the task's budget, and for its project's or the
    fleet's today when those hold it; every stop that held it is lifted. Its sessions start
    again with `ttal go TASK` (or on the watchdog's next pass)."""
    if not app.caller.is_person:
        raise Forbidden(
            f"only a person approves more budget (you are {app.caller.role} {app.caller.name})",
            hint="ask `human` (ttal send --to human ...); a person runs `ttal approve` in "
            "their own shell",
        )
    try:
        amount = parse_amount(amount_text)
    except ValueError as err:
        hint = "dollars as $5, or tokens as 500k or 2M"
        raise UsageError(f"--budget: {err}", hint=hint) from None
    task = resolve_task(app, ref)
    uuid, project = task["uuid"], str(task.get("project") or "")
    result = BudgetApproved(uuid, amount)
    stops = app.state.stops()
    for scope in budgets.scopes(app, uuid, project):
        stopped = scope.key in stops
        if not stopped and scope.kind != "task":
            continue  # a project's or the fleet's day is raised only where it holds the task
        if scope.limit.unit != amount.unit:
            raise UsageError(
                f"{scope.label}'s budget counts {scope.limit.unit}, not {amount.unit}; "
                "nothing was approved", hint=f"give --budget in {scope.limit.unit}")  # fmt: skip
        app.state.grant(scope.key, amount.value, amount.unit, app.caller.name or "human")
        result.granted.append(scope.key)
        if stopped:
            result.lifted.append(scope.key)
    while (held := budgets.holding(app, uuid, project)) and held not in result.lifted:
        app.state.grant(held, 0, amount.unit, app.caller.name or "human")  # an older day's
        result.lifted.append(held)
    _clear_marks(app, uuid, result.lifted)
    app.state.event("budget-approved", uuid, "human", f"{amount.show()}: {result.granted}")
    return result


def _clear_marks(app: App, uuid: str, lifted: list[str]) -> None:
    """The task's `budget:` health, and that of the other tasks a lifted project or fleet
    stop held: they may go on too."""
    wide = [key for key in lifted if not key.startswith("task:")]
    tasks = app.tw.export("status:pending") if wide else [app.tw.get(uuid)]
    for task in tasks:
        health = str(task.get("ttal_health") or "")
        if health.startswith("budget:") and (task["uuid"] == uuid or _held_by(health, wide)):
            app.tw.set(task["uuid"], ttal_health="")


def _held_by(health: str, scopes: list[str]) -> bool:
    kind = health.split(":")[1] if health.count(":") else ""
    project = health.split(":")[2] if health.count(":") > 1 else ""
    return any((kind == "fleet_day" and s.startswith("fleet:")) or
               (kind == "project_day" and s.startswith(f"project:{project}:"))
               for s in scopes)  # fmt: skip
