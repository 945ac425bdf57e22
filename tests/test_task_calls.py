"""How many `task` calls a task's whole lifecycle makes, counted by a `task` wrapper first on
PATH that logs each call and then runs the real one (issue 14: at most 8, from pending to
merged and cleaned up, over every process: the person's `ttal go`, the worker's, the review
lead's verdict and the detached `ttal go` that merges)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import by_hand
from tests.conftest import Box, wait_for
from ttal.errors import Exit

LIMIT = 8
FINISHED = 3  # tasks whose leftovers `ttal gc` removes
HUMAN_GATE = """  gated:
    match_tags: [gated]
    stages:
      - {name: implement, agent: coder, tag: built, gate: human}
      - {name: merge, kind: merge, tag: landed, gate: auto}
"""

WRAPPER = """#!/bin/sh
# Log this call (who made it, then its arguments), then run the real task.
who=$(tr '\\0' ' ' < /proc/$PPID/cmdline 2>/dev/null)
printf '%s\\037%s\\037%s\\n' "${{TTAL_AGENT:-person}}" "$who" "$*" >> {log}
exec {real} "$@"
"""


class Counted:
    """A `task` wrapper on the box's PATH, and what it logged."""

    def __init__(self, box: Box, tmp: Path) -> None:
        real = shutil.which("task", path=box.env.get("PATH"))
        assert real, "no task on PATH"
        self.real = real
        self.log = tmp / "task-calls.log"
        folder = tmp / "counted-bin"
        folder.mkdir()
        wrapper = folder / "task"
        wrapper.write_text(WRAPPER.format(log=self.log, real=real), encoding="utf-8")
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        box.env["PATH"] = f"{folder}{os.pathsep}{box.env.get('PATH', '')}"
        self.box = box

    def calls(self) -> list[tuple[str, str, str]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [tuple(line.split("\x1f", 2)) for line in lines]  # type: ignore[misc]

    def get(self, uuid: str) -> dict[str, Any]:
        """The task, read with the real `task` (not counted)."""
        proc = subprocess.run(
            [self.real, "rc.verbose=nothing", "rc.json.array=on", uuid, "export"],
            env=self.box.env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows: list[dict[str, Any]] = json.loads(proc.stdout)
        assert len(rows) == 1, proc.stdout
        return rows[0]


def _short(args: str) -> str:
    """A call's arguments without the rc overrides every call of ttal's carries."""
    return " ".join(a for a in args.split(" ") if not a.startswith("rc."))


def breakdown(calls: list[tuple[str, str, str]]) -> str:
    lines = [f"{len(calls)} task calls:"]
    for who, cmdline, args in calls:
        lines.append(f"  [{_process(who, cmdline)}] task {_short(args)}")
    per = Counter(_process(who, cmd) for who, cmd, _ in calls)
    lines.append("per step: " + ", ".join(f"{k}={v}" for k, v in per.items()))
    return "\n".join(lines)


# Per process: one read under the task's lock, then one write of everything it decided.
EXPECTED = {
    "person: go": 2,  # read; facts, session and `task start` in one modify
    "worker: go": 2,  # read; +coded and the review round with +reviewing in one modify
    "reviewer: review approve": 2,  # read; the approval and its note in one annotate
    "reviewer: go": 2,  # (detached, after the approval) read; +merged with `task done`
}


def _process(who: str, cmdline: str) -> str:
    role = "person" if who == "person" else "worker" if who.startswith("w-") else "reviewer"
    words = cmdline.split()
    sub = " ".join(w for w in words[words.index("ttal") + 1 :][:2] if "-" not in w)
    return f"{role}: {sub}"


def test_a_lifecycle_makes_at_most_8_task_calls(box: Box, tmp_path: Path) -> None:
    uuid = box.add("Write notes", "project:web")
    # The first write after `ttal doctor --fix` checks the setup once (`task _show`, then
    # cached in the state dir): not part of any task's life. A uuid that does not exist.
    missing = box.ttal("go", "00000000-0000-4000-8000-000000000000")
    assert missing.returncode == Exit.NOT_FOUND, missing.stdout + missing.stderr
    counted = Counted(box, tmp_path)
    proc = box.ttal("go", uuid, check=True)
    assert "spawned worker" in proc.stdout
    wait_for(lambda: counted.get(uuid)["status"] == "completed", 60, "the merge")
    wait_for(lambda: not box.sessions(), what="sessions cleaned up")
    task = counted.get(uuid)
    assert {"coded", "reviewing", "lgtm", "merged"} <= set(task["tags"])
    assert task["ttal_review"] == "approved" and task["ttal_reviewed"]
    assert any("approved by" in a["description"] for a in task["annotations"])
    calls = counted.calls()
    per = Counter(_process(who, cmdline) for who, cmdline, _ in calls)
    assert len(calls) <= LIMIT, breakdown(calls)
    assert dict(per) == EXPECTED, breakdown(calls)


def test_gc_reads_the_finished_tasks_it_decides_in_one_export(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """Each session, worktree and branch of a finished task is decided under the task's lock
    on a fresh read (engine/sweep.py): one export for all of them, not one per thing."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuids = [box.add(f"Left behind {n}", "project:api") for n in range(FINISHED)]
    for uuid in uuids:
        box.ttal("go", uuid, check=True)
        proc = box.task(uuid, "done")
        assert proc.returncode == 0, proc.stderr
    counted = Counted(box, tmp_path)
    items = json.loads(box.ttal("gc", "--json", check=True).stdout)
    gone = {(i["kind"], i["action"]) for i in items if i.get("task") in uuids}
    assert gone == {("session", "kill"), ("worktree", "remove"), ("branch", "delete")}, items
    assert len([i for i in items if i.get("task") in uuids]) == 3 * FINISHED, items
    calls = counted.calls()
    exports = [args for _, _, args in calls if args.endswith(" export")]
    # The first look (live tasks, tasks with a branch), again after the wait for the killed
    # agents, and one read of the finished tasks under their locks.
    assert len(exports) == 5, breakdown(calls)
    assert all(uuid in exports[2] for uuid in uuids), breakdown(calls)


def test_a_batch_is_one_call_with_its_note_and_completion() -> None:
    """What a held task's staged writes become (core/writes.Batch): one `task` call."""
    from ttal.core.writes import Batch, merge_changes

    batch = Batch({"uuid": "u"})
    assert batch.calls(["+coded"]) == []  # nothing staged: no call, not even for the tags
    batch.changes = merge_changes(["ttal_review:reviewing:a", "+coded"],
                                  ["ttal_review:approved", "+coded", "+lgtm"])  # fmt: skip
    assert batch.changes == ["+coded", "ttal_review:approved", "+lgtm"]
    assert batch.calls(["+coded", "+reviewing"]) == [
        ("modify", "+coded", "ttal_review:approved", "+lgtm", "+reviewing")
    ]
    batch.notes = ["approved: +x y:z", "second"]
    assert batch.calls() == [
        ("annotate", "+coded", "ttal_review:approved", "+lgtm", "--", "approved: +x y:z"),
        ("annotate", "--", "second"),
    ]
    batch.done, batch.notes = True, []
    assert batch.calls() == [("done", "+coded", "ttal_review:approved", "+lgtm")]


def test_a_note_written_in_one_go_reaches_the_prompt_it_makes_next(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """The turns work from the held row, not a new read: the worker's note (staged, not yet
    written) is in the review lead's prompt that the next turn writes."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Plan the page", "project:web", "+feature")
    box.ttal("go", uuid, check=True)
    note = "Plan: a table of +contents, then the page"
    box.ttal("go", "--note", note, env=by_hand.worker_env(uuid), check=True)
    prompt = box.sb.state_dir / "run" / f"r-{uuid[:8]}-plan.prompt.md"
    assert f"plan by w-{uuid[:8]}: {note}" in prompt.read_text(encoding="utf-8")
    assert f"plan by w-{uuid[:8]}: {note}" in by_hand.annotations(box, uuid)
    assert "plan_reviewing" in box.get(uuid)["tags"]


def test_a_persons_approval_drives_on_from_the_same_read(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """`ttal approve` at a human gate: one read, then the approval and the next step's
    writes in one call (before: a read and a write, then `ttal go` read the task again)."""
    box = by_hand.idle_box(make_box, tmp_path, extra_yaml=HUMAN_GATE)
    uuid = box.add("Approve me", "project:api", "+gated")
    box.ttal("go", uuid, check=True)
    by_hand.commit(box, uuid, "notes.md", "# notes\n")
    box.ttal("go", env=by_hand.worker_env(uuid), check=True)  # coded: at the human gate
    counted = Counted(box, tmp_path)
    proc = box.ttal("approve", uuid[:8], check=True)
    assert "approved stage implement" in proc.stdout, proc.stdout
    task = counted.get(uuid)
    assert task["ttal_approved"] == "implement" and "landed" in task["tags"], task
    assert task["status"] == "completed"
    calls = counted.calls()
    # the short id's look-up, the read under the lock, one write: the approval, its note,
    # +landed and `task done`
    assert len(calls) == 3, breakdown(calls)
