"""A person's reports beside the fleet: ttal's writes survive them (issue 15, item 1).

On Taskwarrior 2.6 a plain report (`task list`, `task next`; taskwarrior-tui refreshes on its
own every few seconds) garbage-collects: it rewrites pending.data from the copy it read, so a
write ttal made meanwhile is undone (undo.data still shows it), and a completion can be
stored twice (one pending row, one completed). Here a person runs the default `task list`
(same TASKRC, default rc: gc on) in a loop while a small fleet goes through spawn, coded,
review, approval and merge with the scripted agents, and `ttal watch` runs as it would
beside a fleet. Every task must end merged with its approval intact, none stuck, no task
stored twice. 3.x (one SQLite database) keeps the writes; the test must pass there too.

TTAL_SOAK=1 runs a longer, larger variant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid as uuid_module
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.conftest import Box, wait_for

SOAK = os.environ.get("TTAL_SOAK") == "1"
TASKS = 24 if SOAK else 8
REPORT_EVERY = 0.05  # seconds between a person's reports
DONE_EVERY = 10  # every 10th report is a `task N done` of one of the person's own tasks
OWN_TASKS = 200  # the person's own pending tasks: a gc's read-to-write window grows with them
FLEET_TIMEOUT = 240 if SOAK else 90
STALLED = 20.0  # seconds without any change to the fleet's tasks: stuck, fail now


def person_reports(box: Box, stop: threading.Event, counts: Counter[str]) -> None:
    """A person's `task list` (and now and then `task next`) over and over, default rc; every
    DONE_EVERY-th time they also finish one of their own tasks (`task N done`), as people do:
    that leaves a completed task in pending.data for the next report's gc to move."""
    env = {k: v for k, v in box.env.items() if not k.startswith("TTAL_")}
    while not stop.is_set():
        n = counts["reports"]
        report = ["next"] if n % 5 == 4 else ["list"]
        if n % DONE_EVERY == DONE_EVERY - 1:
            report = [f"description.is:chore{n // DONE_EVERY}", "done"]
        subprocess.run(["task", "rc.confirmation=no", *report], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        counts["reports"] += 1
        stop.wait(REPORT_EVERY)


def own_tasks(box: Box, count: int) -> None:
    """The person's own pending tasks, imported in one call."""
    rows = [{"description": f"chore{n}", "status": "pending", "entry": "20260101T000000Z",
             "uuid": str(uuid_module.uuid4())} for n in range(count)]  # fmt: skip
    proc = subprocess.run(
        ["task", "rc.confirmation=no", "rc.verbose=nothing", "import", "-"],
        env=box.env, input="\n".join(json.dumps(r) for r in rows), text=True,
        capture_output=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def export_all(box: Box) -> list[dict[str, Any]]:
    proc = box.task("rc.json.array=on", "rc.gc=0", "export")
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


def problems(box: Box, uuids: list[str]) -> list[str]:
    """What is wrong with the fleet now: each task merged once, with its approval."""
    rows = export_all(box)
    per_uuid = Counter(r["uuid"] for r in rows)
    found = []
    for uuid in uuids:
        mine = [r for r in rows if r["uuid"] == uuid]
        if per_uuid[uuid] != 1:
            found.append(f"{uuid[:8]}: stored {per_uuid[uuid]} times "
                         f"({', '.join(r['status'] for r in mine)})")  # fmt: skip
            continue
        task = mine[0]
        tags = set(task.get("tags") or [])
        if task["status"] != "completed":
            found.append(f"{uuid[:8]}: {task['status']}, tags {sorted(tags)}")
        elif not {"coded", "reviewing", "lgtm", "merged"} <= tags:
            found.append(f"{uuid[:8]}: completed with tags {sorted(tags)}")
        elif task.get("ttal_review") != "approved" or not task.get("ttal_reviewed"):
            found.append(f"{uuid[:8]}: approval lost (ttal_review={task.get('ttal_review')!r})")
    return found


class Progress:
    """Is the fleet done? Raises when nothing changed on its tasks for STALLED seconds while
    something is still wrong: a stuck task waits forever (before this fix, until a person
    ran `ttal go`), so waiting out the whole timeout tells nothing more."""

    def __init__(self, box: Box, uuids: list[str]) -> None:
        self.box, self.uuids = box, uuids
        self.last: object = None
        self.since = time.monotonic()

    def finished(self) -> bool:
        found = problems(self.box, self.uuids)
        if not found:
            return True
        rows = [r for r in export_all(self.box) if r["uuid"] in self.uuids]
        now = sorted((r["uuid"], r.get("modified", ""), r["status"]) for r in rows)
        if now != self.last:
            self.last, self.since = now, time.monotonic()
        elif time.monotonic() - self.since > STALLED:
            raise AssertionError(f"stuck: nothing changed for {STALLED:.0f}s")
        return False


def diagnose(box: Box) -> str:
    """The continuing `ttal go` logs and ttal's events, for a task that got stuck."""
    lines = [f"--- {log.name} ---\n{log.read_text(errors='replace')[-1500:]}"
             for log in sorted((box.sb.state_dir / "run").glob("continue-*.log"))]  # fmt: skip
    rows = by_hand.rows(box, "SELECT task, kind, actor, detail FROM events ORDER BY id")
    lines += [f"{t[:8]} {k} {a} {d[:150]}" for t, k, a, d in rows]
    return "\n".join(lines)


def test_person_reports_during_a_fleet_lose_nothing(box: Box) -> None:
    uuids = [box.add(f"Write note {n}", f"project:{'api' if n % 2 else 'web'}")
             for n in range(TASKS)]  # fmt: skip
    own_tasks(box, OWN_TASKS)
    stop, counts = threading.Event(), Counter[str]()
    person = threading.Thread(target=person_reports, args=(box, stop, counts), daemon=True)
    watch = subprocess.Popen(
        [sys.executable, "-m", "ttal", "watch", "--interval", "1"],
        env=box.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    person.start()
    started = time.monotonic()
    try:
        gos = [subprocess.Popen([sys.executable, "-m", "ttal", "go", uuid], env=box.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for uuid in uuids]  # fmt: skip
        for go in gos:
            out, err = go.communicate(timeout=120)
            assert go.returncode == 0, out + err
        try:
            wait_for(Progress(box, uuids).finished, FLEET_TIMEOUT, "every task merged",
                     interval=0.5)  # fmt: skip
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out}: {problems(box, uuids)}\n{diagnose(box)}") from None
    finally:
        stop.set()
        person.join(timeout=30)
        watch.terminate()
        _, err = watch.communicate(timeout=30)
    took = time.monotonic() - started
    kinds = "('write-reapplied', 'task-deduped')"
    fixes = by_hand.rows(box, f"SELECT kind, task, detail FROM events WHERE kind IN {kinds}")
    fixed = Counter(kind for kind, _, _ in fixes)
    print(f"{TASKS} tasks merged in {took:.1f}s beside {counts['reports']} reports; "
          f"ttal wrote again {fixed['write-reapplied']} lost writes, stored "
          f"{fixed['task-deduped']} tasks once")  # fmt: skip
    for kind, uuid, detail in fixes:
        print(f"  {kind} {uuid[:8]} {detail[:120]}")
    assert "Traceback" not in err, err
    assert not problems(box, uuids)
    files = set(box.git("api", "ls-tree", "-r", "--name-only", "main").split())
    files |= set(box.git("web", "ls-tree", "-r", "--name-only", "main").split())
    assert {f"notes/{u[:8]}.md" for u in uuids} <= files
    wait_for(lambda: not box.sessions(), 30, "sessions cleaned up")


def test_a_fact_someone_changed_is_flagged_a_reverted_one_written_again(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Keep my facts", "project:api")
    box.ttal("go", uuid, check=True)
    task = box.get(uuid)
    # A revert (what a report's gc does): the session fact is gone. A change: another branch.
    proc = box.task(uuid, "modify", "ttal_session:", "ttal_branch:person/own")
    assert proc.returncode == 0, proc.stderr

    out = box.ttal("recover", check=True).stdout
    after = box.get(uuid)
    assert after["ttal_session"] == task["ttal_session"], out  # written again
    assert after["ttal_branch"] == "person/own", out  # theirs stands
    assert f"ttal_branch is 'person/own', not ttal's '{task['ttal_branch']}'" in out, out
    assert "wrote again what Taskwarrior lost: ttal_session:" in out, out
    assert "ttal_branch is 'person/own'" in box.ttal("status", check=True).stderr
    again = box.ttal("recover", check=True).stdout  # flagged once, listed while it stands
    assert "wrote again" not in again and "ttal_branch is 'person/own'" in again, again
    assert box.get(uuid)["ttal_branch"] == "person/own"


def test_a_task_stored_twice_is_stored_once(make_box: Callable[..., Box], tmp_path: Path) -> None:
    """2.6 only: a report's gc and a write crossed, and the task has a second copy."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Stored twice", "project:api")
    if not (box.sb.task_data / "pending.data").exists():
        pytest.skip("Taskwarrior 3.x keeps one row per uuid (SQLite)")
    box.ttal("go", uuid, check=True)
    line = next(x for x in (box.sb.task_data / "pending.data").read_text().splitlines()
                if uuid in x)  # fmt: skip
    with (box.sb.task_data / "completed.data").open("a") as data:
        data.write(line.replace('status:"pending"', 'status:"completed"') + "\n")
    assert [r["uuid"] for r in export_all(box)].count(uuid) == 2

    proc = box.ttal("go", uuid)  # tolerates it, and stores it once
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [r for r in export_all(box) if r["uuid"] == uuid]
    assert len(rows) == 1, rows
    assert rows[0]["ttal_session"] == f"w-{uuid[:8]}"
    assert by_hand.rows(box, "SELECT state FROM intents WHERE action = 'task.dedupe'") == [
        ("done",)
    ]


def test_a_finished_task_a_purge_drops_is_imported_back(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """2.6 only: storing a task once purges, which rewrites the data files whole; a report's
    gc that moves a finished task in that instant appends it to completed.data between the
    purge's read and its write, and it is in neither file (a merged task vanished so in
    CI). Here the test drops the task's lines while ttal is paused after its purge, which
    leaves what that race leaves; ttal must import it back, whole."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Stored twice", "project:api")
    pending = box.sb.task_data / "pending.data"
    if not pending.exists():
        pytest.skip("Taskwarrior 3.x keeps one row per uuid (SQLite)")
    mine = box.add("The person's finished task", "+home")
    assert box.task(mine, "annotate", "keep me").returncode == 0
    assert box.task(mine, "done").returncode == 0
    theirs = next(r for r in export_all(box) if r["uuid"] == mine)
    box.ttal("go", uuid, check=True)
    line = next(x for x in pending.read_text().splitlines() if uuid in x)
    with (box.sb.task_data / "completed.data").open("a") as data:
        data.write(line.replace('status:"pending"', 'status:"completed"') + "\n")

    pauses = tmp_path / "pauses"
    pauses.mkdir()
    env = {**box.env, "TTAL_PAUSE": "dedupe.purged", "TTAL_PAUSE_DIR": str(pauses)}
    go = subprocess.Popen([sys.executable, "-m", "ttal", "go", uuid], env=env, text=True,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for(lambda: any(pauses.iterdir()), 60, "ttal paused after its purge")
        for name in ("pending.data", "completed.data"):  # what the crossing gc leaves
            path = box.sb.task_data / name
            kept = [x for x in path.read_text().splitlines() if mine not in x]
            path.write_text("".join(f"{x}\n" for x in kept))
        assert mine not in [r["uuid"] for r in export_all(box)]
    finally:
        (pauses / "go").touch()
    out, err = go.communicate(timeout=60)
    assert go.returncode == 0, out + err

    rows = export_all(box)
    assert [r["uuid"] for r in rows].count(uuid) == 1
    [back] = [r for r in rows if r["uuid"] == mine]
    same = ("description", "status", "tags", "end", "entry")
    assert {k: back.get(k) for k in same} == {k: theirs.get(k) for k in same}
    assert [a["description"] for a in back["annotations"]] == ["keep me"]
    assert by_hand.events(box, "task-restored") == [
        "a report's gc crossed ttal's purge; imported back whole"
    ]


def test_compare_tells_lost_from_changed() -> None:
    """The rule itself (core/writes.py): nothing or an earlier value of ttal's is lost and
    written again; a value ttal never wrote is someone's decision."""
    from ttal.core.writes import COMPLETED, Write, compare

    writes = [
        Write(1, "+lgtm", "", "applied"),
        Write(2, "ttal_review", "approved", "pending", frozenset({"reviewing:abc"})),
        Write(3, "ttal_branch", "ttal/x", "applied"),
        Write(4, "ttal_round", "2", "applied", frozenset({"1"})),
        Write(5, "start", "now", "applied"),
        Write(6, "ttal_worktree", "/w", "applied"),
    ]
    task = {"uuid": "u", "status": "pending", "tags": ["coded"], "ttal_review": "reviewing:abc",
            "ttal_branch": "person/own", "ttal_round": 2, "ttal_worktree": "/w"}  # fmt: skip
    verdict = compare(task, writes)
    assert [w.id for w in verdict.lost] == [1, 2, 5]
    assert [(w.id, found) for w, found in verdict.conflicts] == [(3, "person/own")]
    assert [w.id for w in verdict.seen] == [4, 6]
    done = compare({"uuid": "u", "status": "completed"}, [writes[4], Write(7, *COMPLETED, "a")])
    assert len(done.seen) == 2  # `task done` clears start
    deleted = compare({"uuid": "u", "status": "deleted"}, [Write(7, *COMPLETED, "pending")])
    assert [found for _, found in deleted.conflicts] == ["deleted"]  # a person's decision
