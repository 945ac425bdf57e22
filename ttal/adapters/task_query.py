"""ttal's pending tasks in ONE Taskwarrior read, `status:pending`, for `ttal status` and
`ttal agents`. The tasks ttal finished, which status also lists for a day, come from ttal's
own record of them (adapters/store/finished.py), not from Taskwarrior.

A person's store holds years of their own tasks, and with rc.gc=0 (which ttal's reads
need: docs/speed.md) both 2.6 and 3.x read all of it on every call, whatever the filter.
So what ttal controls is how many calls it makes, how many filter terms Taskwarrior
evaluates on every task, and how many rows it renders. Measured at 5,000 pending and 20,000
finished tasks, in instructions (callgrind) against a raw `task status:pending export` with
gc on (docs/speed.md has the table):

- one call, not two (the pending tasks, then the recent merges: 2.5x together);
- only `status:pending`, the bench floor's own filter (1.16x on 2.6, 1.19x on 3.5: the
  cost of rc.gc=0 alone). The recently finished in the same call,
  `( status:pending or end.after:T )`, cost 1.38x and 1.52x: every term is evaluated on
  every task and costs about as much as rendering 5,000 rows, so ttal's projects and marks
  in the filter (`project.is:api or ... or ttal_branch.any:`, 1.61x and 1.64x) or a nested
  filter (1.78x and 1.61x) cost more than they save;
- `export`, not a custom report of a few columns: a report still evaluates the filter on
  every task, and its text would need parsing.

`is_ttals` then keeps exactly ttal's rows (the person's own pending tasks are dropped here,
in ~2 ms for 5,000 rows).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ttal.adapters.taskwarrior import Taskwarrior

# UDAs only ttal sets: a task carrying one is ttal's, whatever its project.
BRANCH, OWNER = "ttal_branch", "ttal_owner"
PENDING = ("status:pending",)  # the whole filter: the floor's own, with its shortcuts


def is_ttals(task: dict[str, Any], projects: Sequence[str] | set[str]) -> bool:
    """A pending task in one of ttal's projects or marked by ttal."""
    if task.get("status") != "pending":  # 5,000 rows a call: no generator, no loop
        return False
    return task.get("project") in projects or bool(task.get(BRANCH) or task.get(OWNER))


def ttal_pending(tw: Taskwarrior, projects: Sequence[str] | set[str]) -> list[dict[str, Any]]:
    """ttal's pending tasks: one `task status:pending export`."""
    return [t for t in tw.export(*PENDING) if is_ttals(t, projects)]


def epoch(stamp: Any) -> float:
    """Taskwarrior's `20261202T101500Z` as epoch seconds (0 when absent or malformed).
    Sliced, not strptime'd: a status reads a few hundred (strptime costs ~35 us each)."""
    text = str(stamp or "")
    if len(text) != 16 or text[8] != "T" or text[15] != "Z" or not text[:8].isdigit():
        return 0.0
    try:
        parts = (int(text[0:4]), int(text[4:6]), int(text[6:8]),
                 int(text[9:11]), int(text[11:13]), int(text[13:15]))  # fmt: skip
        return float(calendar.timegm((*parts, 0, 0, 0)))
    except ValueError:  # a month 13, a day 32
        return 0.0
