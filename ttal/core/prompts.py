"""The texts ttal gives agents: the worker's and reviewer's prompts and in-session notes."""

from __future__ import annotations

from ttal.core.pipeline import Stage
from ttal.core.task_view import TaskView


def _annotations(task: TaskView) -> str:
    return "\n".join(f"- {n}" for n in task.annotations) or "- (none)"


def worker_prompt(task: TaskView, stage: Stage, base: str, branch: str) -> str:
    short = task.short
    finish = (
        "Commit your work on this branch (the tree must be clean), then run `ttal go`."
        if stage.commits
        else 'Record your result with `ttal go --note "<your result>"`.'
    )
    return f"""You are a ttal worker on task {short} ({stage.name} stage).

Task: {task.description}
Project: {task.project}
Branch: {branch} (from {base}); you are in its own worktree.
Notes:
{_annotations(task)}

When you are done: {finish}
A review lead will look at it. Requested changes arrive here as messages: address them,
commit, and run `ttal go` again.
If you are blocked or need a decision, ask your spawner: `ttal alert "<what you need>"`.
Do not merge, and do not change the task's tags yourself.
"""


def reviewer_prompt(task: TaskView, stage: Stage, base: str, branch: str, rnd: int) -> str:
    short = task.short
    return f"""You are the ttal review lead for task {short} ({stage.name} stage), round {rnd}.

Task: {task.description}
Project: {task.project}
Review the changes on {branch} against {base} in this worktree (`git diff {base}...HEAD`).
You are read-only: do not edit files.
Notes:
{_annotations(task)}

Verdict:
- approve:          ttal review approve --note "<why>"
- request changes:  ttal review changes "<what must change>"
"""


def brief(stage: Stage, short: str) -> str:
    what = "commit, then run `ttal go`" if stage.commits else 'run `ttal go --note "<result>"`'
    return f"[ttal] task {short}: stage {stage.name} is yours now. When done, {what}."


def changes_note(reviewer: str, rnd: int, message: str) -> str:
    return (
        f"[ttal] review changes requested by {reviewer} (round {rnd}): {message}\n"
        "Address them, commit, then run `ttal go`."
    )


def new_round_note(short: str, rnd: int, head: str) -> str:
    return (
        f"[ttal] task {short}: round {rnd} is ready (HEAD {head[:10]}). Review again, then "
        '`ttal review approve --note "..."` or `ttal review changes "..."`.'
    )
