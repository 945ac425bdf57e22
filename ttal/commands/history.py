"""`ttal history`: what ttal's tasks changed in their repos. In flight: each pending task's
branch against its base (commits ahead, files and lines). Finished: the tasks completed in the
last days, and what their merge brought into the base.

A cold command: tasklib reads the tasks and GitPython the history, both imported only here
(ttal.adapters.task_history, ttal.adapters.git_history).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ttal.adapters.git_history import DiffStat, History, history
from ttal.adapters.task_history import TaskRecord, read_tasks
from ttal.engine.app import App
from ttal.errors import TtalError, UsageError


@dataclass(frozen=True)
class Row:
    task: TaskRecord
    change: DiffStat | None  # None: no branch or merge to measure (or no configured repo)
    ahead: int = 0  # in flight: commits on the branch that base has not

    def as_dict(self) -> dict[str, Any]:
        t = self.task
        change = self.change.as_dict() if self.change else None
        row: dict[str, Any] = {"uuid": t.uuid, "project": t.project, "branch": t.branch,
                               "description": t.description, "rounds": t.rounds,
                               "change": change}  # fmt: skip
        if t.end is None:
            return row | {"ahead": self.ahead, "entry": t.entry.isoformat()}
        took = (t.end - t.entry).total_seconds()
        return row | {"ended": t.end.isoformat(), "took_s": round(took)}


@dataclass(frozen=True)
class Changes:
    in_flight: list[Row]  # oldest first
    finished: list[Row]  # newest first

    def as_dict(self) -> dict[str, Any]:
        return {"in_flight": [r.as_dict() for r in self.in_flight],
                "finished": [r.as_dict() for r in self.finished]}  # fmt: skip


def run_history(app: App, days: int = 7, project: str = "") -> Changes:
    if days < 1:
        raise UsageError(f"--days must be 1 or more, not {days}")
    where = [f"project:{project}"] if project else []
    rc, data = app.cfg.taskrc, app.cfg.task_data
    live = read_tasks(rc, data, "status:pending", "ttal_branch.any:", *where)
    done = read_tasks(rc, data, "status:completed", "ttal_branch.any:", f"end.after:now-{days}d",
                      *where)  # fmt: skip
    with _Repos(app) as repos:
        in_flight = [_in_flight(repos, t) for t in sorted(live, key=lambda t: t.entry)]
        never = datetime.min.replace(tzinfo=UTC)
        finished = [_finished(repos, t) for t in sorted(done, key=lambda t: t.end or never,
                                                          reverse=True)]  # fmt: skip
    return Changes(in_flight, finished)


class _Repos:
    """Each project's repository opened once, all closed together."""

    def __init__(self, app: App) -> None:
        self.app, self.stack = app, ExitStack()
        self.open: dict[Path, History | None] = {}

    def __enter__(self) -> _Repos:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def of(self, task: TaskRecord) -> tuple[History, str] | None:
        """(history, base ref) of the task's project, when ttal.yaml has it and its repo opens."""
        found = self.app.cfg.projects.get(task.project)
        if found is None:
            return None
        if found.repo not in self.open:
            try:
                self.open[found.repo] = self.stack.enter_context(history(found.repo))
            except TtalError:
                self.open[found.repo] = None  # reported as no change; `ttal doctor` says why
        hist = self.open[found.repo]
        return (hist, f"refs/heads/{found.base}") if hist else None


def _in_flight(repos: _Repos, task: TaskRecord) -> Row:
    if (where := repos.of(task)) is None:
        return Row(task, None)
    hist, base = where
    tip = f"refs/heads/{task.branch}"
    ahead = hist.ahead(tip, base)
    if ahead is None:  # the branch is not there (yet, or any more)
        return Row(task, None)
    return Row(task, hist.diffstat(tip, base), ahead.count)


def _finished(repos: _Repos, task: TaskRecord) -> Row:
    if (where := repos.of(task)) is None:
        return Row(task, None)
    hist, base = where
    # engine/merge.py ends every merge message with "(ttal task <short uuid>)".
    return Row(task, hist.merged(base, f"(ttal task {task.uuid[:8]})"))
