"""Fault injection for the crash tests: `TTAL_FAULT=<point>` kills ttal at that point, as a
`kill -9` would (no cleanup, no finally blocks). Off unless the variable is set.

`<point>@N` fires the Nth time this process reaches the point (a delivery reaches its points
once per piece of a backlog). `TTAL_PAUSE=<point>[@N]` with `TTAL_PAUSE_DIR=DIR` stops there
instead: it creates DIR/<point>.<pid> and waits until DIR/go exists, so a test can hold one
process inside a step while others run, or kill it there, without depending on timing."""

from __future__ import annotations

import os

# Every point the crash test covers, in pipeline order (docs/reliability.md lists them).
POINTS = (
    "spawn.facts",  # task facts recorded, no worktree yet
    "spawn.worktree",  # worktree made, no session
    "spawn.session",  # session started, task not yet updated
    "advance.coded",  # +coded, no review lead
    "advance.reviewer",  # review lead started, +reviewing not yet added
    "review.approved",  # +lgtm, before the merge is started
    "merge.files",  # checkout's files written under git's index lock, base not yet moved
    "merge.cas",  # base branch moved, its checkout's index not yet in place (lock held)
    "merge.checkout",  # checkout updated, +merged not yet added
    "merge.tagged",  # +merged, nothing cleaned up
    "cleanup.sessions",  # sessions killed, worktree still there
    "cleanup.worktree",  # worktree removed, branch still there
    "cleanup.branch",  # branch deleted, spawner not told
    "finish.told",  # spawner told, task not yet done
)
# A project that merges through a forge (tests/test_forge.py): the push, the PR, its merge.
FORGE_POINTS = (
    "forge.pushed",  # the branch pushed, no pull request opened yet
    "forge.opened",  # the pull request opened, its URL not yet on the task
    "forge.merged",  # the forge merged the PR, +merged not yet added
)
# The merge queue's points (tests/test_merge_queue_crash.py), on a queued project's path.
QUEUE_POINTS = (
    "queue.take",  # tasks taken into a check run, nothing built yet
    "check.start",  # the check started (its process group recorded), not finished
    "check.done",  # the check's result recorded, its worktree not yet removed
    "check.base",  # a lone red branch: the check running on the base alone, not finished
    "queue.cas",  # base moved to the checked commit, tasks not yet tagged +merged
)
# A queue held because its base alone fails the check (tests/test_merge_queue_crash.py).
HOLD_POINTS = (
    "check.base",  # the check running on the base alone, not finished (also in QUEUE_POINTS)
    "queue.held",  # the hold flagged in the journal, nobody told, the run's tasks not requeued
)
# A change across repos (tests/test_merge_groups.py).
GROUP_POINTS = ("group.second",)  # the first child's base moved, the second's not yet
# Delivery's points (tests/test_delivery_crash.py): not on the pipeline's path, so apart.
DELIVERY_POINTS = (
    "deliver.attempted",  # the attempt recorded, nothing typed yet
    "deliver.pasted",  # typed into the pane, not yet marked delivered
)
# A budget stop's point (tests/test_budget.py): the stop recorded, its sessions still running.
BUDGET_POINTS = ("budget.stopped",)


_hits: dict[str, int] = {}


def point(name: str) -> None:
    fault, pause = os.environ.get("TTAL_FAULT"), os.environ.get("TTAL_PAUSE")
    if not (fault or pause):
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _armed(fault, name):
        if log := os.environ.get("TTAL_FAULT_LOG"):  # proof for the tests that it fired
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"{name} {os.getpid()}\n")
        os._exit(137)
    if _armed(pause, name):
        _pause(name, os.environ.get("TTAL_PAUSE_DIR", ""))


def _armed(spec: str | None, name: str) -> bool:
    at, _, nth = (spec or "").partition("@")
    return at == name and _hits[name] == int(nth or 1)


def _pause(name: str, folder: str) -> None:
    import time

    with open(os.path.join(folder, f"{name}.{os.getpid()}"), "w", encoding="utf-8"):
        pass
    while not os.path.exists(os.path.join(folder, "go")):
        time.sleep(0.01)
