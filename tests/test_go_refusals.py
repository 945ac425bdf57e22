"""Every refusal of `ttal go` and the review commands: one `ttal: ...` line on stderr (plus
an optional hint), no traceback, its own exit code, and nothing changed in the world."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import by_hand
from tests.by_hand import commit, events, reviewer_env, worker_env
from tests.conftest import Box, wait_for
from ttal.adapters import sandbox
from ttal.errors import Exit

PERSON: dict[str, str] = {}


@dataclass(frozen=True)
class Ctx:
    box: Box
    uuid: str  # the task driven to the stage
    other: str  # a second task, in another project
    orphan: str  # a task without a project
    stray: str  # a task whose project ttal does not know


@dataclass(frozen=True)
class Case:
    stage: str  # how far the task got first: fresh, spawned, reviewing, lgtm
    argv: Callable[[Ctx], list[str]]
    code: Exit
    says: str  # a fragment of the one-line error (of stdout's "now:" line when waiting)
    env: Callable[[Ctx], dict[str, str]] = lambda ctx: PERSON
    prepare: Callable[[Ctx], None] = lambda ctx: None


def _dirty(ctx: Ctx) -> None:
    (by_hand.worktree(ctx.box, ctx.uuid) / "scratch.txt").write_text("wip\n", encoding="utf-8")


def _go(ctx: Ctx) -> list[str]:
    return ["go", ctx.uuid]


def _as_worker(ctx: Ctx) -> dict[str, str]:
    return worker_env(ctx.uuid)


def _as_reviewer(ctx: Ctx) -> dict[str, str]:
    return reviewer_env(ctx.uuid)


# Run in this order within a stage: the dirty tree stays dirty for the cases after it.
CASES = {
    "unknown-task": Case("fresh", lambda c: ["go", "999"], Exit.NOT_FOUND, "no task 999"),
    "unknown-short-uuid": Case(
        "fresh", lambda c: ["go", "0badf00d"], Exit.NOT_FOUND, "no task 0badf00d"
    ),
    "garbage-reference": Case(
        "fresh", lambda c: ["go", "1; rm -rf"], Exit.NOT_FOUND, "is not a task reference"
    ),
    "task-without-project": Case(
        "fresh", lambda c: ["go", c.orphan], Exit.PRECONDITION, "has no project"
    ),
    "task-with-unknown-project": Case(
        "fresh", lambda c: ["go", c.stray], Exit.PRECONDITION, "unknown project 'nope'"
    ),
    "human-approve-by-agent": Case(
        "spawned",
        lambda c: ["approve", c.uuid],
        Exit.FORBIDDEN,
        "only a person approves",
        _as_worker,
    ),
    "worker-go-no-commits": Case(
        "spawned", _go, Exit.PRECONDITION, "no commits ahead of main", _as_worker
    ),
    "worker-limit-reached-waits": Case(
        "spawned", lambda c: ["go", c.other], Exit.WAITING, "(limits.max_workers)"
    ),
    "worker-go-dirty-tree": Case(
        "spawned", _go, Exit.PRECONDITION, "uncommitted changes", _as_worker, prepare=_dirty
    ),
    "review-approve-by-person": Case(
        "reviewing", lambda c: ["review", "approve"], Exit.FORBIDDEN, "only a review lead"
    ),
    "review-approve-by-worker": Case(
        "reviewing",
        lambda c: ["review", "approve"],
        Exit.FORBIDDEN,
        "only a review lead",
        _as_worker,
    ),
    "reviewer-drives-another-task": Case(
        "reviewing",
        lambda c: ["go", c.other],
        Exit.FORBIDDEN,
        "may only drive its own task",
        _as_reviewer,
    ),
    "review-changes-empty": Case(
        "reviewing",
        lambda c: ["review", "changes", ""],
        Exit.PRECONDITION,
        "the message is empty",
        _as_reviewer,
    ),
    "human-approve-not-at-human-gate": Case(
        "reviewing", lambda c: ["approve", c.uuid], Exit.PRECONDITION, "is not at a human gate"
    ),
    "person-go-during-review-waits": Case(
        "reviewing", _go, Exit.WAITING, "waiting for the review lead"
    ),
    "worker-go-after-lgtm-cannot-merge": Case(
        "lgtm", _go, Exit.FORBIDDEN, "a worker cannot merge", _as_worker
    ),
}
ONE_WORKER = "limits:\n  max_workers: 1\n"  # a second worker must wait for the first
STAGES = ("fresh", "spawned", "reviewing", "lgtm")


def reach(box: Box, uuid: str, stage: str) -> None:
    """Drive the task by hand to `stage`, with idle agents so nothing moves on by itself."""
    if stage == "fresh":
        return
    box.ttal("go", uuid, check=True)
    if stage == "spawned":
        return
    commit(box, uuid, "feature.txt", "done\n")
    box.ttal("go", uuid, env=worker_env(uuid), check=True)  # +coded, spawns the review lead
    assert f"r-{uuid[:8]}-implement" in box.sessions()
    if stage == "lgtm":
        # The review lead's tag without `ttal review approve`, whose background `ttal go`
        # would merge before the worker could try.
        proc = box.task(uuid, "modify", "+lgtm", env=reviewer_env(uuid))
        assert proc.returncode == 0, proc.stdout + proc.stderr


def assert_refused(proc: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    shown = f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert proc.returncode == code, shown
    assert "Traceback" not in proc.stdout + proc.stderr, shown
    if code == Exit.WAITING:  # not an error: the usual report, with nothing done
        assert proc.stderr == "", shown
        now = [line for line in proc.stdout.splitlines() if line.startswith("  now:  ")]
        assert len(now) == 1 and says in now[0] and "done:" not in proc.stdout, shown
        return
    lines = proc.stderr.splitlines()
    assert lines and lines[0].startswith("ttal: ") and says in lines[0], shown
    assert len(lines) <= 2 and all(line.startswith("  hint: ") for line in lines[1:]), shown
    assert proc.stdout == "", shown


@pytest.mark.parametrize("stage", STAGES)
def test_refusals_change_nothing(
    make_box: Callable[..., Box], tmp_path: Path, subtests: pytest.Subtests, stage: str
) -> None:
    box = by_hand.idle_box(make_box, tmp_path, extra_yaml=ONE_WORKER)
    uuid = box.add("Edit the notes", "project:api")
    others = (
        box.add("Another task", "project:web"),
        box.add("Orphan"),
        box.add("Stray", "project:nope"),
    )
    ctx = Ctx(box, uuid, *others)
    reach(box, uuid, stage)
    for name, case in CASES.items():
        if case.stage != stage:
            continue
        with subtests.test(name):
            case.prepare(ctx)
            before = by_hand.world(box)
            proc = box.ttal(*case.argv(ctx), env=case.env(ctx))
            assert_refused(proc, case.code, case.says)
            assert by_hand.world(box) == before


def test_merge_conflict_refused_and_nothing_lost(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    first = box.add("Greet with hello", "project:api")
    second = box.add("Greet with howdy", "project:api")
    for uuid, word in ((first, "hello"), (second, "howdy")):  # both branch off the same main
        box.ttal("go", uuid, check=True)
        commit(box, uuid, "greeting.txt", f"{word}\n", f"Greet with {word}")
        box.ttal("go", uuid, env=worker_env(uuid), check=True)
    box.ttal("review", "approve", env=reviewer_env(first), check=True)
    wait_for(lambda: box.get(first)["status"] == "completed", what="first merge")
    assert box.git("api", "show", "main:greeting.txt") == "hello\n"

    box.ttal("review", "approve", env=reviewer_env(second), check=True)
    wait_for(lambda: events(box, "merge-refused", second), what="background merge refused")
    branch = box.get(second)["ttal_branch"]
    base, tip = box.git("api", "rev-parse", "main"), box.git("api", "rev-parse", branch)
    for _ in range(2):  # repeated: refused the same way, the spawner told only once
        assert_refused(box.ttal("go", second), Exit.CONFLICT, "would conflict in greeting.txt")

    assert box.git("api", "rev-parse", "main") == base
    assert box.git("api", "rev-parse", branch) == tip
    assert "Greet with howdy" in box.git("api", "log", "--format=%s", f"main..{branch}")
    assert by_hand.worktree(box, second).is_dir()
    task = box.get(second)
    assert task["status"] == "pending"
    assert "lgtm" in task["tags"] and "merged" not in task["tags"]
    told = by_hand.rows(
        box,
        "SELECT body FROM messages WHERE recipient = 'human' AND task = ? "
        "AND body LIKE '%conflict%'",
        second,
    )
    assert len(told) == 1, told
    assert sum("merge refused" in a for a in by_hand.annotations(box, second)) == 1

    proc = box.ttal("go", first)  # the merged one has nothing left to do
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "already merged" in proc.stdout


def test_resolved_conflict_is_rereviewed_before_merge(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """After a refused merge the worker rebases; the approval was pinned to the old commit,
    so nothing merges until the review lead has seen the new one."""
    box = by_hand.idle_box(make_box, tmp_path)
    first = box.add("Greet with hello", "project:api")
    second = box.add("Greet with howdy", "project:api")
    for uuid, word in ((first, "hello"), (second, "howdy")):
        box.ttal("go", uuid, check=True)
        commit(box, uuid, "greeting.txt", f"{word}\n", f"Greet with {word}")
        box.ttal("go", uuid, env=worker_env(uuid), check=True)
    box.ttal("review", "approve", env=reviewer_env(first), check=True)
    wait_for(lambda: box.get(first)["status"] == "completed", what="first merge")
    box.ttal("review", "approve", env=reviewer_env(second), check=True)
    wait_for(lambda: events(box, "merge-refused", second), what="merge refused")
    worker_told = by_hand.rows(
        box, "SELECT body FROM messages WHERE recipient = ? AND body LIKE '%merge refused%'",
        f"w-{second[:8]}",
    )  # fmt: skip
    assert len(worker_told) == 1

    wt = by_hand.worktree(box, second)
    sandbox.git(wt, "rebase", "-X", "theirs", "main")  # the worker resolves: keeps "howdy"
    main_before = box.git("api", "rev-parse", "main")
    proc = box.ttal("go", env=worker_env(second))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "round" in proc.stdout
    assert box.git("api", "rev-parse", "main") == main_before  # nothing merged unreviewed
    assert box.ttal("go", second).returncode == Exit.WAITING  # a person waits for the review

    box.ttal("review", "approve", "--note", "rebased ok", env=reviewer_env(second), check=True)
    wait_for(lambda: box.get(second)["status"] == "completed", what="merge after re-review")
    assert box.git("api", "show", "main:greeting.txt") == "howdy\n"
    assert "merged" in box.get(second)["tags"]
