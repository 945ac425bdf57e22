"""When a missing task is evidence: the rule every destructive sweep asks first.

`ttal gc`, `watch` and `recover` remove what a task no longer needs because Taskwarrior no
longer shows the task. That inference is only sound when Taskwarrior is reading the user's
data. Taskwarrior 3.x over 2.x data (no `task import-v2` yet), a moved data dir or a TASKRC
pointing elsewhere all answer "no tasks" with exit 0, and the sweep would then kill live
agents and remove their worktrees. So: when Taskwarrior returned no tasks at all while
ttal's own state knows live tasks, a sweep refuses. Pure: the caller looks, this decides.
"""

from __future__ import annotations

from collections.abc import Collection


def refusal(command: str, tw_tasks: int, known_live: Collection[str]) -> str | None:
    """The refusal to show, or None when `command` may go on.

    `tw_tasks`: how many tasks Taskwarrior returned at all (any status; -1 when not counted,
    i.e. it returned some). `known_live`: uuids (or short uuids) of tasks ttal's own state
    shows live: a session running, a worktree present, a write or intent still open.
    """
    if tw_tasks != 0 or not known_live:
        return None
    names = sorted({uuid[:8] for uuid in known_live})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"ttal {command} refused: Taskwarrior returned no tasks at all, but ttal knows live "
        f"tasks ({shown}); nothing was killed or removed. Taskwarrior is probably not reading "
        "your data: after an upgrade to Taskwarrior 3.x over 2.x data, run `task import-v2`; "
        "else check TASKRC, TASKDATA and data.location (`ttal doctor` shows which it reads)"
    )
