"""`ttal status` and `ttal agents` read ttal's pending tasks in one `task status:pending`
call, and the figures they show are the store's, exactly: a person's own tasks stay out;
the tasks ttal finished show for a day from ttal's own record, then leave."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.by_hand import commit, idle_box, worker_env
from tests.by_hand import rows as rows_of
from tests.conftest import Box, wait_for
from ttal.adapters.store.finished import Finished
from ttal.adapters.store.state import State
from ttal.adapters.task_query import PENDING, epoch
from ttal.cli.render_status import dashboard
from ttal.commands.agents import AgentRow
from ttal.commands.status import StatusReport, TaskRow

DAY = 86400


def stamp(seconds_ago: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - seconds_ago))


def imported(box: Box, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    """Tasks as years of history leave them, written with `task import` (no hooks: a
    finished task arrives finished)."""
    path = tmp_path / f"import-{len(list(tmp_path.glob('import-*')))}.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    proc = box.task("rc.hooks=off", "import", str(path))
    assert proc.returncode == 0, proc.stderr


def finished(uuid: str, description: str, ended: float, project: str = "api",
             ttal: bool = True) -> dict[str, Any]:  # fmt: skip
    row = {"uuid": uuid, "description": description, "status": "completed",
           "entry": stamp(ended + 3600), "end": stamp(ended), "modified": stamp(ended),
           "project": project}  # fmt: skip
    if ttal:
        row |= {"ttal_branch": f"ttal/{uuid[:8]}", "tags": ["coded", "reviewing", "lgtm", "merged"]}
    return row


def task_calls(box: Box, tmp_path: Path) -> Path:
    """A `task` first on PATH that logs each call, then runs the real one."""
    shim, log, real = tmp_path / "shim", tmp_path / "task-calls.log", shutil.which("task")
    shim.mkdir(exist_ok=True)
    (shim / "task").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (shim / "task").chmod(0o755)
    box.env["PATH"] = f"{shim}:{box.env['PATH']}"
    return log


def status_json(box: Box) -> dict[str, Any]:
    return dict(json.loads(box.ttal("status", "--json", check=True).stdout))


def test_status_shows_ttals_tasks_only_from_one_task_call(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = idle_box(make_box, tmp_path)
    spawned = box.add("Add JWT auth", "project:api")
    waiting = box.add("Add a rate limit", "project:web")
    mine = box.add("buy milk")  # a person's own: no project of ttal's
    mine_too = box.add("call the bank", "project:home")
    box.ttal("go", spawned, check=True)
    # Finished without ttal's record of it (imported, as a task a person marks done by hand
    # or one merged before ttal kept the record): not shown, however recent.
    recent = "11111111-1111-4111-8111-111111111111"
    old = "22222222-2222-4222-8222-222222222222"
    persons_done = "33333333-3333-4333-8333-333333333333"
    untouched = "44444444-4444-4444-8444-444444444444"  # done in ttal's project by a person
    imported(box, tmp_path, [
        finished(recent, "Merged an hour ago", 3600),
        finished(old, "Merged three days ago", 3 * DAY),
        finished(persons_done, "paid the rent", 600, project="home", ttal=False),
        finished(untouched, "done by hand", 600, ttal=False),
    ])  # fmt: skip
    # ttal's record says `waiting` finished, but Taskwarrior has it pending (a done that
    # never landed, or a task reopened): the pending row is the truth.
    State(box.sb.state_dir).record_finished(Finished(waiting, "web", "x", 0, time.time()))
    log = task_calls(box, tmp_path)

    data = status_json(box)
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and calls[0].endswith(" status:pending export"), calls  # the floor's
    rows = {row["uuid"]: row for row in data["tasks"]}
    assert set(rows) == {spawned, waiting} and len(data["tasks"]) == 2, rows
    assert not {mine, mine_too, recent, old, persons_done, untouched} & set(rows)
    assert rows[waiting]["stage"] == "pending" and rows[waiting]["worker"] == ""
    assert rows[spawned]["worker"] == f"w-{spawned[:8]}"

    log.write_text("")
    agents = json.loads(box.ttal("agents", "--json", check=True).stdout)
    assert len(log.read_text().splitlines()) == 1, log.read_text()  # `agents` too: one read
    assert f"w-{spawned[:8]}" in {a["agent"] for a in agents}


def test_status_figures_are_the_stores(make_box: Callable[..., Box], tmp_path: Path) -> None:
    """Every figure `status --json` gives, checked against a raw `task export` and tmux."""
    box = idle_box(make_box, tmp_path)
    coded, working, pending = (box.add(f"Task {n}", "project:api") for n in range(3))
    for uuid in (coded, working):
        box.ttal("go", uuid, check=True)
    commit(box, coded, "done.txt", "done\n")
    box.ttal("go", env=worker_env(coded), check=True)  # +coded: the review lead starts
    box.task(coded, "modify", "ttal_health:stuck:w-x")
    state = State(box.sb.state_dir)  # what ttal's engine writes there, written the same way
    crashed = state.add_intent("merge:x", "merge", coded, "mutating", "irreversible", {}, 1)
    state.close_intent(crashed, "unknown", "may be half done: git update-ref failed")
    state.enqueue_assignment(pending, "design", "designer")
    state.enqueue_spawn(pending, "api", "max_workers 2 reached")
    before = time.time()
    data = status_json(box)
    after = time.time()

    store = {t["uuid"]: t for t in json.loads(box.task("export", "rc.json.array=on").stdout)}
    rows = {row["uuid"]: row for row in data["tasks"]}
    assert set(rows) == {coded, working, pending}
    for uuid, row in rows.items():
        task = store[uuid]
        assert row["id"] == task["id"] and row["description"] == task["description"]
        assert row["project"] == task["project"] and row["health"] == task.get("ttal_health", "")
        age = (before - epoch(task["entry"]) - 1, after - epoch(task["entry"]) + 1)
        assert age[0] <= row["age"] <= age[1], (row, task["entry"])
        assert row["cost"] is None  # not measured here: nothing made up
    assert rows[coded]["stage"] == "implement: reviewing (r1)"
    assert rows[coded]["reviewer"] == f"r-{coded[:8]}-implement"
    assert rows[working]["stage"] == "implement: working"
    assert rows[pending]["stage"] == "pending"
    assert data["counts"] == dict(Counter(r["stage"].split(" (r")[0] for r in rows.values()))
    sessions = set(box.sessions())
    assert {s["session"] for s in data["sessions"]} == sessions
    assert {a["agent"] for a in data["agents"] if a["role"] in ("worker", "reviewer")} == sessions
    flagged = rows_of(box, "SELECT id, action, task, state, note FROM intents "
                      "WHERE state IN ('flagged', 'unknown') ORDER BY id")  # fmt: skip
    assert [tuple(f.values()) for f in data["flagged"]] == flagged and len(flagged) == 1
    assert [(q["task"], q["project"], q["reason"]) for q in data["queue"]] == rows_of(
        box, "SELECT task, project, reason FROM spawn_queue ORDER BY ts"
    )
    assert [(r["task"], r["stage"], r["role"]) for r in data["roles"]] == rows_of(
        box, "SELECT task, stage, role FROM assign_queue ORDER BY ts"
    )
    text = box.ttal("status", check=True).stdout  # the same, for a person
    for said in (
        "spawn queue: 1 waiting",
        "role queues: designer 1",
        f"flagged #{crashed}",
        "implement: reviewing (r1)",
        "stuck",
        "implement: working 1",
        "pending 1",
    ):
        assert said in text, text


def test_a_task_ttal_merged_shows_for_a_day_from_its_record(box: Box) -> None:
    """The real pipeline merges a task (scripted agents); status lists it as merged, from
    ttal's record, with no read of finished tasks; a day later it is gone."""
    uuid = box.add("Add JWT auth", "project:api")
    box.ttal("go", uuid, check=True)
    wait_for(lambda: box.get(uuid)["status"] == "completed", 60, "the merge")
    task = box.get(uuid)

    [row] = [r for r in status_json(box)["tasks"] if r["uuid"] == uuid]
    assert (row["stage"], row["id"], row["description"]) == ("merged", "-", "Add JWT auth")
    assert row["project"] == "api" and row["worker"].startswith(f"w-{uuid[:8]}")
    age = time.time() - epoch(task["entry"])
    assert age - 5 <= row["age"] <= age + 5, (row, task["entry"])
    assert "merged" in box.ttal("status", check=True).stdout

    state = State(box.sb.state_dir)
    [record] = state.finished_since(0)
    assert abs(record.ended - epoch(task["end"])) <= 5, (record, task["end"])
    state.record_finished(replace(record, ended=time.time() - DAY - 60))
    assert uuid not in {r["uuid"] for r in status_json(box)["tasks"]}


def test_finished_records_are_kept_a_week(tmp_path: Path) -> None:
    """Pruned when a record is written, never by a read."""
    state, now = State(tmp_path / "state"), time.time()
    old = Finished("a" * 8, "api", "eight days ago", now - 9 * DAY, now - 8 * DAY)
    week = Finished("b" * 8, "api", "six days ago", now - 7 * DAY, now - 6 * DAY)
    for record in (old, week):
        state.record_finished(record)
    assert state.finished_since(0) == [old, week]  # a read prunes nothing
    new = Finished("c" * 8, "web", "just now", now - 3600, now, "w-cccccccc", "", "ok", "")
    state.record_finished(new)
    assert state.finished_since(0) == [week, new]
    assert state.finished_since(now - DAY) == [new]


def test_the_filter_is_the_floors() -> None:
    """The floor's own filter (docs/speed.md): Taskwarrior takes its pending-only shortcuts,
    and which tasks are ttal's is decided in Python, where it costs nothing per term."""
    assert PENDING == ("status:pending",)
    assert epoch("20261130T005320Z") == 1_796_000_000.0 and epoch("") == 0.0


def report(tasks: int, agents: int) -> StatusReport:
    rows = [TaskRow(n + 1, f"{n:08d}-0000-4000-8000-000000000000", "api",
                    "implement: changes requested (r2)", f"w-{n:08d}", "",
                    "A long description that cannot fit in eighty columns " * 3,
                    age=7200.0 + n, active=30.0, health="stuck:w-x")
            for n in range(tasks)]  # fmt: skip
    people = [AgentRow(f"manager{n}", "manager", "idle", "3m", 180.0, "", 0)
              for n in range(agents)]  # fmt: skip
    return StatusReport(rows, [], [], "ttal", [], agents=people, counts={"implement": tasks})


def test_the_dashboard_fits_80_by_24_and_says_what_it_left_out() -> None:
    text = dashboard(report(tasks=40, agents=12), 80, 24)
    lines = text.split("\n")
    assert len(lines) <= 24 and max(len(line) for line in lines) <= 80, text
    shown = sum(1 for line in lines if line.startswith(tuple("123456789")))
    assert any(line == f"… {40 - shown} more" for line in lines), text
    assert "stuck" in text and "$" not in text  # health's kind; no cost column when unknown

    priced = report(tasks=2, agents=1)
    priced.tasks[0] = TaskRow(**{**priced.tasks[0].__dict__, "cost": "$1.50"})
    assert "$1.50" in dashboard(priced, 100, 24)
    everything = dashboard(report(tasks=40, agents=12), None, None)
    assert "more" not in everything and len(everything.split("\n")) > 50
