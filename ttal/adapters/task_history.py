"""Reading tasks for reports through tasklib, on cold paths only (`ttal history`).

tasklib hands back typed fields (entry and end as aware datetimes, numeric UDAs as numbers),
which a report wants. It costs ~30 ms to import and builds a Task per row (~66 µs each), so
the hook, `go`, `send` and `report` keep reading raw `task export` JSON in
ttal.adapters.taskwarrior (tests/test_lean_imports.py). Writes never go through tasklib: it
sends the whole tag set back (libraries.md §1.3, §1.7), and ttal's writes hold its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# tasklib compares this against 2.4.x thresholds only; ttal needs Taskwarrior 2.6 or newer
# (ttal doctor). Passing it saves the `task --version` call tasklib makes otherwise.
TASK_VERSION = "2.6.0"


@dataclass(frozen=True)
class TaskRecord:
    uuid: str
    description: str
    project: str
    status: str
    branch: str
    entry: datetime
    end: datetime | None
    rounds: int  # review rounds (UDA ttal_round)


def read_tasks(taskrc: Path | None, data: Path | None, *filters: str) -> list[TaskRecord]:
    """Tasks matching Taskwarrior filter strings. Pass a status filter: `export` applies none,
    and completed history makes an unfiltered read slow (libraries.md §1.6). Tags as "+tag"
    strings: tasklib's tags__contains splits a string into letters (§1.3)."""
    from tasklib import TaskWarrior

    tw = TaskWarrior(
        data_location=str(data) if data else None,
        create=False,
        taskrc_location=str(taskrc) if taskrc else None,
        version_override=TASK_VERSION,
    )
    # As ttal.adapters.taskwarrior reads: a read that garbage-collects moves completed tasks
    # between files without ttal's lock; and no verbose line may break the JSON stream.
    tw.overrides.update({"gc": "0", "verbose": "nothing"})
    return [_record(task) for task in tw.tasks.filter(*filters)]


def _record(task: Any) -> TaskRecord:
    return TaskRecord(
        uuid=str(task["uuid"]),
        description=str(task["description"] or ""),
        project=str(task["project"] or ""),
        status=str(task["status"] or ""),
        branch=str(task["ttal_branch"] or ""),
        entry=task["entry"],
        end=task["end"],
        rounds=int(task["ttal_round"] or 0),
    )
