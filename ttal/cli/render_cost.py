"""Text for people for `ttal cost` and `ttal approve --budget` (docs/cost.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ttal.cli.render import lines, table

if TYPE_CHECKING:
    from ttal.commands.cost import BudgetApproved, CostReport


def cost_text(report: CostReport) -> str:
    rows = []
    for task in report.tasks:
        total = task.total
        stages = ", ".join(f"{name or '-'} {c.label()}" for name, c in task.stages.items())
        rows.append({"task": task.uuid[:8], "cost": total.label(), "tokens": total.tokens,
                     "input": total.input, "output": total.output,
                     "cache r/w": f"{total.cache_read}/{total.cache_write}",
                     "stages": stages, "description": task.description})  # fmt: skip
    cols = ["task", "cost", "tokens", "input", "output", "cache r/w", "stages", "description"]
    parts = [table(rows, cols, title="Cost per task (+? : some models have no price)")]
    parts.append(f"today, every session: {report.today.label()} ({report.today.tokens} tokens)")
    if report.stops:
        parts.append("stopped at their budget: " + ", ".join(report.stops)
                     + " (`ttal approve TASK --budget AMOUNT` lets one go on)")  # fmt: skip
    return lines(*parts)


def budget_approved_text(result: BudgetApproved) -> str:
    granted = ", ".join(result.granted) or "no budgeted scope"
    head = f"task {result.task[:8]}: approved {result.amount.show()} more for {granted}"
    if not result.lifted:
        return head
    return lines(head, f"  lifted the stop on {', '.join(result.lifted)}; "
                 f"`ttal go {result.task[:8]}` starts it again (or the next `ttal watch` "
                 "pass)")  # fmt: skip
