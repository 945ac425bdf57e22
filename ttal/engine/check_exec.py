"""A project's check, run once in a throwaway worktree of one commit, under the journal:
the worktree added (`worktree.add`), the check run (`check.run`) in a process group of its
own whose processes carry `TTAL_CHECK_RUN=<mark>` (so a crash recovery stops exactly
them, proc.stop_group), the worktree removed (`worktree.remove`). Shared by the queue's
check runs (engine/check_runs.py) and the base's own check (engine/queue_holds.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ttal.adapters import git_merge, proc
from ttal.config.model import Project
from ttal.engine import journal
from ttal.engine.app import App

LOG_TAIL = 64 * 1024  # bytes of a log read for its last lines
# Not the driver's identity: a check that runs ttal must not act as a reviewer or worker.
HIDDEN = ("TTAL_FAULT", "TTAL_AGENT", "TTAL_ROLE", "TTAL_TASK")


def paths(app: App, mark: str) -> tuple[Path, Path]:
    """The throwaway worktree of check `mark` (run-N, base-N) and its log, under state_dir."""
    root = app.cfg.state_dir / "checks"
    return root / mark, root / f"{mark}.log"


def add_worktree(app: App, project: Project, path: Path, commit: str, task: str) -> None:
    with journal.intent(app, "worktree.add", f"wt:{path}", task, path=str(path),
                        repo=str(project.repo)):  # fmt: skip
        if not path.exists():
            git_merge.add_detached(project.repo, path, commit)


def run_check(app: App, project: Project, mark: str, task: str,
            started: Callable[[int], None]) -> proc.Finished:  # fmt: skip
    """Run the project's check in the worktree of `mark`; `started` gets its process group."""
    path, log = paths(app, mark)
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN}
    env["TTAL_CHECK_RUN"] = mark.removeprefix("run-")  # marks its processes (proc.stop_group)
    with journal.intent(app, "check.run", f"check:{mark.removeprefix('run-')}", task,
                        run=mark, log=str(log)):  # fmt: skip
        return proc.run_logged(project.check, cwd=path, log=log, env=env,
                               timeout=project.check_timeout, started=started)  # fmt: skip


def marker(mark: str) -> str:
    """What the processes of check `mark` carry in their environment."""
    return f"TTAL_CHECK_RUN={mark.removeprefix('run-')}"


def remove_worktree(app: App, project: Project, path: Path, task: str) -> None:
    if path.exists():
        with journal.intent(app, "worktree.remove", f"rm:{path}", task, path=str(path),
                            repo=str(project.repo)):  # fmt: skip
            git_merge.remove_throwaway(project.repo, path)


def tail(log: Path) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - LOG_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
