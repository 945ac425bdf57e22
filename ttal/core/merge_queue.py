"""The merge queue's decisions, pure: which queued branches one check run tests, how a red
batch is split, the bound on its extra runs, and the texts a returned task gets.

Bisection keeps its state in the queue itself: a red batch of k>1 branches goes back to
the head of the queue with each half capped at its size (`cap`), so the next run takes the
first half alone, and a crash in between loses nothing. A green half merges at once; a red
half of one branch is the culprit. One culprit in N costs at most 2·ceil(log2 N) runs
after the first (tests/test_merge_queue_core.py counts them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FAILED = ("failed", "timed out")  # a run's states for a red check
# sh's own exits: the command was found but cannot be executed (126), or not found (127).
CANNOT_RUN = (126, 127)


@dataclass(frozen=True)
class Queued:
    task: str
    cap: int = 0  # 0: none; else the size of the red batch's half this task is in


def take(queue: Sequence[Queued], batch: int) -> list[str]:
    """The next run's tasks: the head of the queue and those after it, up to `batch`, or
    up to the head's cap when the head is a half of a red batch."""
    if not queue:
        return []
    size = min(batch, queue[0].cap or batch)
    return [q.task for q in queue[:size]]


def halves(tasks: Sequence[str]) -> tuple[list[str], list[str]]:
    """A red batch's two halves, queue order kept (the first one the larger)."""
    middle = (len(tasks) + 1) // 2
    return list(tasks[:middle]), list(tasks[middle:])


def caps_after_red(tasks: Sequence[str]) -> dict[str, int]:
    """Each task of a red batch of more than one: the cap that makes the next runs test
    its halves one after the other."""
    first, second = halves(tasks)
    return {**dict.fromkeys(first, len(first)), **dict.fromkeys(second, len(second))}


def extra_runs_bound(size: int) -> int:
    """At most this many runs after a red batch of `size` find one culprit and merge the rest."""
    return 2 * math.ceil(math.log2(size)) if size > 1 else 0


def cannot_run(state: str, code: int) -> bool:
    """The check itself could not run (not found, not executable): no branch's doing."""
    return state == "failed" and code in CANNOT_RUN


def lifted(held: tuple[str, str], now: tuple[str, str]) -> str:
    """Why a hold made for (check command, base tip) `held` no longer holds at `now`; ""
    while it does."""
    if held[0] != now[0]:
        return f"the check is now `{now[0]}`"
    if held[1] != now[1]:
        return f"the base moved to {now[1][:10]}"
    return ""


def held_line(where: str, command: str, base_tip: str, what: str, code: int) -> str:
    """A held queue in one line, for the journal, `ttal status` and `ttal go`."""
    base = where.split("/", 1)[-1]
    if code in CANNOT_RUN:
        return (f"merge queue of {where} held: its check `{command}` cannot run (exit {code}, "
                f"on {base} alone too); fix `check:` in ttal.yaml")  # fmt: skip
    return (f"merge queue of {where} held: {base} alone ({base_tip[:10]}) fails its check "
            f"`{command}` ({what}); fix {base}")  # fmt: skip


def held_note(where: str, command: str, base_tip: str, what: str, code: int, log: str,
              tail: str, entry: int) -> str:  # fmt: skip
    """What a person is told once when a project's queue is held: the base alone fails
    its check (or the check cannot run), so no queued task is to blame."""
    project, base = where.split("/", 1)
    if code in CANNOT_RUN:
        why = f"The shell could not run the check ({what}), on {base} alone too."
        fix = (
            f"Fix `check:` of project {project} in ttal.yaml: the queue resumes by itself "
            "once it changes (`ttal go` of a queued task, or `ttal watch`)."
        )
    else:
        why = f"{base} alone fails the check too ({what}): the failure is not the branches'."
        fix = (
            f"Fix {base} (a commit to it) or `check:` in ttal.yaml: the queue resumes by "
            "itself once either changes (`ttal go` of a queued task, or `ttal watch`)."
        )
    return (
        f"{held_line(where, command, base_tip, what, code)}\n{why} No task was sent back; "
        f"they wait in the queue. Log: {log}\nLast lines:\n{tail or '(no output)'}\n{fix} "
        f"To try again as it is (say, a tool installed since): `ttal journal resolve {entry}`."
    )


def last_lines(text: str, count: int = 15, width: int = 200) -> str:
    """The end of a check's output, for a message: at most `count` lines of `width`."""
    lines = [line[:width] for line in text.rstrip().splitlines()[-count:]]
    return "\n".join(lines)


def verdict(state: str, code: int, seconds: float) -> str:
    """A check's outcome in a few words, for events, messages and `ttal status`."""
    if state == "timed out":
        return f"timed out after {seconds:.0f}s"
    if state == "passed":
        return f"passed in {seconds:.0f}s"
    return f"failed (exit {code}) after {seconds:.0f}s"


def returned_note(short: str, run: int, what: str, log: str, tail: str) -> str:
    """What the worker and its spawner are told when the check sends a task back."""
    return (
        f"task {short}: the merge queue's check run #{run} {what} on the merge result, so "
        f"nothing was merged; the branch and its worktree are kept. Log: {log}\n"
        f"Last lines:\n{tail}\n"
        "Fix it on the branch, commit, then run `ttal go`: the review lead re-reviews, "
        "then the task queues again."
    )


def merge_message(message: str, run: int, command: str) -> str:
    """A queued merge's commit message names, in its body, the check run that proved it
    (the base moves to it only once that run passed)."""
    if not command:  # a group's child in a project without a check: merged with its group
        return f"{message}\n\nMerged by ttal's merge queue with its group: run #{run} (no check)."
    return f"{message}\n\nChecked by ttal's merge queue: check run #{run} passed ({command})."
