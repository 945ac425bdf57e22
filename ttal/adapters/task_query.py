"""ttal's own tasks in ONE Taskwarrior read, for `ttal status` and `ttal agents`.

A person's store holds years of their own tasks; both 2.6 and 3.x read all of it on every
call, so what ttal controls is how many calls it makes and how much the filter costs per
task. Measured at 5,000 pending (150 ttal's) and 20,000 finished (docs/speed.md):

- one call instead of two (pending, then recent merges): each call pays the whole load;
- `( status:pending or end.after:T ) ( project.is:P... or ttal_branch.any: ... )`: the
  status terms first and flat, not `( pending and ttal's ) or ( completed and recent and
  ttal's )`, whose eight terms cost 1.45x a raw `task export status:pending` on 2.6
  against 1.15x for this form (each term is evaluated on every task);
- an absolute `end.after:` time (no `now-1d` to parse per task);
- `export`, not a custom report of a few columns: rendering 180 rows costs ~2 ms on 2.6,
  the filter is what costs; a report's text would also need parsing.

The filter lets through a little more than ttal's (`end.after:` also finds deleted tasks,
and finished tasks of ttal's projects that no worker touched); `is_ttals` settles each row.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ttal.adapters.taskwarrior import Taskwarrior

RECENT = 86400.0  # finished tasks `ttal status` still shows (seconds)
# UDAs only ttal sets: a task carrying one is ttal's, whatever its project.
MARKS = ("ttal_branch", "ttal_owner")
STAMP = "%Y%m%dT%H%M%SZ"  # Taskwarrior's dates in export


def ttal_filter(projects: Iterable[str], since: float) -> list[str]:
    """Taskwarrior filter arguments: pending tasks of `projects` or marked by ttal, and
    tasks that ended after `since` (epoch seconds)."""
    stamp = time.strftime(STAMP, time.gmtime(since))
    ours = [*(f"project.is:{p}" for p in sorted(projects)), *(f"{m}.any:" for m in MARKS)]
    either = [term for t in ours for term in ("or", t)][1:]
    return ["(", "status:pending", "or", f"end.after:{stamp}", ")", "(", *either, ")"]


def is_ttals(task: dict[str, Any], projects: Sequence[str] | set[str], since: float) -> bool:
    """The exact rule the filter approximates: a pending task in one of ttal's projects or
    marked by ttal; a completed one that ttal worked on and that ended after `since`."""
    marked = any(task.get(m) for m in MARKS)
    status = task.get("status")
    if status == "pending":
        return marked or task.get("project") in projects
    if status == "completed":
        return bool(task.get("ttal_branch")) and epoch(task.get("end")) >= since
    return False


def ttal_tasks(
    tw: Taskwarrior, projects: Sequence[str] | set[str], now: float, recent: float = RECENT
) -> list[dict[str, Any]]:
    """ttal's pending tasks and those it finished in the last `recent` seconds: one
    `task export`."""
    since = now - recent
    rows = tw.export(*ttal_filter(projects, since))
    return [t for t in rows if is_ttals(t, projects, since)]


def epoch(stamp: Any) -> float:
    """Taskwarrior's `20261202T101500Z` as epoch seconds (0 when absent or malformed)."""
    import calendar

    try:
        return float(calendar.timegm(time.strptime(str(stamp or ""), STAMP)))
    except ValueError:
        return 0.0
