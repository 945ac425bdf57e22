"""`ttal watch --once` against real agents: dead ones restarted in place (within limits),
stuck and dirty ones reported once, queued messages delivered. Real task, git and tmux."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.mesh_helpers import recorder_box, send, sent, up, wait_body

FLAPPING = "- exit: 1\n"  # a worker that dies as soon as it starts


def watch(box: Box) -> list[dict[str, Any]]:
    proc = box.ttal("watch", "--once", "--json")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


def row_of(rows: list[dict[str, Any]], agent: str, kind: str = "") -> dict[str, Any]:
    """The row about `agent` (of `kind`; by default not a delivery)."""
    found = [r for r in rows if r["agent"] == agent and (r["kind"] == kind if kind else
             r["kind"] != "delivery")]  # fmt: skip
    assert len(found) == 1, rows
    return found[0]


def to_human(box: Box) -> list[str]:
    return [r[0] for r in by_hand.rows(
        box, "SELECT body FROM messages WHERE recipient = 'human' ORDER BY id")]  # fmt: skip


def tmux(box: Box, *args: str) -> str:
    proc = subprocess.run(["tmux", "-L", box.sb.socket, *args], env=box.env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return proc.stdout.strip()


def started(box: Box, *extra: str, description: str = "Watch me") -> tuple[str, str]:
    """A task whose worker runs: (uuid, worker session)."""
    uuid = box.add(description, "project:api", *extra)
    box.ttal("go", uuid, check=True)
    return uuid, f"w-{uuid[:8]}"


def reported_idle(box: Box, agent: str) -> None:
    sql = "SELECT state FROM agent_status WHERE agent = ?"
    wait_for(lambda: by_hand.rows(box, sql, agent) == [("idle",)], 20, f"{agent} idle")


def test_a_killed_worker_is_restarted_in_its_worktree_and_its_spawner_told_once(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid, name = started(box)
    before = box.get(uuid)
    tmux(box, "kill-session", "-t", f"={name}")

    dead = row_of(watch(box), name)
    assert dead["state"] == "dead (exit unknown)", dead
    assert dead["did"] == ["restarted with ttal go (1/3)", "alerted human"], dead
    task = box.get(uuid)
    assert task["ttal_health"] == f"dead:{name}:unknown"
    [alert] = to_human(box)
    assert f"worker {name} of task {uuid[:8]} (Watch me) died (exit unknown)" in alert
    assert name in box.sessions()
    assert (task["ttal_worktree"], task["ttal_branch"]) == (
        before["ttal_worktree"], before["ttal_branch"])  # fmt: skip
    assert tmux(box, "display-message", "-p", "-t", f"={name}:", "#{pane_current_path}") == (
        before["ttal_worktree"])  # fmt: skip
    head = box.git("api", "-C", task["ttal_worktree"], "rev-parse", "--abbrev-ref", "HEAD")
    assert head.strip() == before["ttal_branch"]
    assert by_hand.worktrees(box, "api") == [before["ttal_worktree"]]

    healthy = row_of(watch(box), name)
    assert (healthy["health"], healthy["did"]) == ("ok", ["healthy again"]), healthy
    assert box.get(uuid)["ttal_health"] == "ok"
    modified = box.get(uuid)["modified"]
    assert row_of(watch(box), name)["did"] == []
    assert box.get(uuid)["modified"] == modified  # nothing written when nothing changed
    assert len(to_human(box)) == 1


def test_in_review_both_sessions_are_restarted_and_no_review_round_is_started(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid, worker = started(box)
    head = by_hand.commit(box, uuid, "feature.txt", "done\n")
    box.ttal("go", uuid, env=by_hand.worker_env(uuid), check=True)
    reviewer = f"r-{uuid[:8]}-implement"
    assert box.get(uuid)["ttal_review"] == f"reviewing:{head}"
    for name in (reviewer, worker):
        tmux(box, "kill-session", "-t", f"={name}")

    rows = watch(box)
    # A person's `ttal go` restarts the review lead (and does nothing else) here; for the
    # worker it would not, so the watchdog restarts the worker itself.
    assert row_of(rows, reviewer)["did"] == ["restarted with ttal go (1/3)", "alerted human"]
    assert row_of(rows, worker)["did"] == ["restarted in its worktree (1/3)", "alerted human"]
    assert {worker, reviewer} <= set(box.sessions())
    task = box.get(uuid)
    assert task["ttal_health"] == f"dead:{worker}:unknown"
    assert (task["ttal_round"], task["ttal_review"]) == (1, f"reviewing:{head}")
    assert by_hand.events(box, "review-round", uuid) == []
    assert len(to_human(box)) == 2

    again = watch(box)
    assert [row_of(again, n)["did"] for n in (worker, reviewer)] == [["healthy again"]] * 2
    assert box.get(uuid)["ttal_health"] == "ok"


def test_a_worker_that_keeps_dying_is_restarted_up_to_the_limit_then_failed(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    script = tmp_path / "flapping.yaml"
    script.write_text(FLAPPING, encoding="utf-8")
    limits = "limits:\n  restart_limit: 2\n  restart_backoff: 1\n"
    box = make_box(worker_script=script, reviewer_script=script, extra_yaml=limits)
    uuid, name = started(box)
    wait_for(lambda: name not in box.sessions(), 20, "the worker to die")

    def failed() -> bool:
        watch(box)
        return str(box.get(uuid).get("ttal_health", "")).startswith("failed:")

    wait_for(failed, 30, "ttal watch to give up")
    assert box.get(uuid)["ttal_health"] == f"failed:{name}:1"
    assert len(by_hand.events(box, "watch-restarted", uuid)) == 2
    alerts = to_human(box)
    assert len(alerts) == 3, alerts  # one per death, the last one final
    assert all("died (exit 1)" in a for a in alerts)
    assert "gave up" in alerts[-1] and f"ttal go {uuid[:8]}" in alerts[-1]

    again = row_of(watch(box), name)
    assert (again["state"], again["did"]) == ("failed (exit 1)", []), again
    assert len(by_hand.events(box, "watch-restarted", uuid)) == 2
    assert len(to_human(box)) == 3


def test_a_stuck_worker_is_reported_once_per_quiet_period(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path, extra_yaml="limits:\n  stuck_after: 1\n")
    uuid, name = started(box)

    def stuck_alerts() -> list[str]:
        watch(box)
        return [m for m in to_human(box) if "no output and sent no heartbeat" in m]

    [alert] = wait_for(stuck_alerts, 20, "a stuck alert")
    assert f"worker {name} of task {uuid[:8]}" in alert
    assert box.get(uuid)["ttal_health"] == f"stuck:{name}"
    assert row_of(watch(box), name)["state"].startswith("stuck ")
    assert len(stuck_alerts()) == 1

    # A heartbeat is activity: the quiet period ends (the limit is raised meanwhile so that
    # a slow machine cannot start the next period before the pass looks).
    set_stuck_after(box, 3600)
    beat = box.ttal("heartbeat", "running the slow tests", env=by_hand.worker_env(uuid))
    assert beat.returncode == 0, beat.stderr
    fresh = row_of(watch(box), name)
    assert (fresh["state"], fresh["health"], fresh["did"]) == ("idle", "ok", ["no longer stuck"])
    assert box.get(uuid)["ttal_health"] == "ok"
    assert by_hand.events(box, "watch-unstuck", uuid) == [name]  # the episode's end (insights)
    set_stuck_after(box, 1)
    second = wait_for(lambda: stuck_alerts()[1:], 20, "a second quiet period")
    assert "running the slow tests" in second[0]  # it started at the heartbeat
    assert len(to_human(box)) == 2


def set_stuck_after(box: Box, seconds: int) -> None:
    text = box.sb.config.read_text(encoding="utf-8")
    text = re.sub(r"stuck_after: \d+", f"stuck_after: {seconds}", text)
    box.sb.config.write_text(text, encoding="utf-8")


def test_an_idle_worker_with_uncommitted_changes_is_warned_about_once(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid, name = started(box)
    reported_idle(box, name)
    assert row_of(watch(box), name)["did"] == []
    tree = by_hand.worktree(box, uuid)
    (tree / "notes.txt").write_text("half done\n", encoding="utf-8")

    warned = row_of(watch(box), name)
    assert (warned["state"], warned["did"]) == ("idle, uncommitted changes", ["warned human"])
    [warning] = to_human(box)
    assert "uncommitted changes" in warning and "notes.txt" in warning
    assert row_of(watch(box), name)["did"] == []

    by_hand.commit(box, uuid, "notes.txt", "done\n")
    assert row_of(watch(box), name)["state"] == "idle"
    (tree / "more.txt").write_text("again\n", encoding="utf-8")
    assert row_of(watch(box), name)["did"] == ["warned human"]  # a new dirty state
    assert len(to_human(box)) == 2


def test_a_dead_manager_is_restarted_and_gets_what_was_queued(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = recorder_box(make_box, tmp_path / "rec", ["mgr"])
    up(box, "mgr")
    tmux(box, "kill-session", "-t", "=mgr")
    queued = sent(send(box, "mgr", "while you were down"))
    assert queued["status"] == "queued"

    rows = watch(box)
    assert row_of(rows, "mgr")["did"] == ["restarted with ttal up (1/3)", "alerted human"]
    assert wait_body(tmp_path / "rec" / "mgr.hex", queued["id"]) == ["while you were down"]
    assert "manager mgr died" in to_human(box)[0]

    box.ttal("down", "mgr", check=True)
    assert [r for r in watch(box) if r["agent"] == "mgr"] == []  # down on purpose: left down
    assert "mgr" not in box.sessions()


def test_the_pass_delivers_what_is_queued_for_an_agent_that_can_take_it(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = recorder_box(make_box, tmp_path / "rec", ["mgr"])
    up(box, "mgr")
    box.ttal("report", "busy", "--agent", "mgr", check=True)
    queued = sent(send(box, "mgr", "for later"))
    assert queued["status"] == "queued"
    # Its idle report was lost (say, the hook crashed after recording it): nothing typed it.
    db = sqlite3.connect(box.sb.state_dir / "ttal.db", timeout=30)
    with db:
        db.execute("UPDATE agent_status SET state = 'idle' WHERE agent = 'mgr'")
    db.close()

    rows = watch(box)
    assert row_of(rows, "mgr", "delivery")["did"] == ["delivered 1 queued message(s)"]
    assert (row_of(rows, "mgr")["state"], row_of(rows, "mgr")["did"]) == ("idle", [])
    assert wait_body(tmp_path / "rec" / "mgr.hex", queued["id"]) == ["for later"]


def test_expected_failures_print_no_traceback(box: Box) -> None:
    assert watch(box) == []  # no tasks, no agents, no tmux server: nothing to do
    person = box.ttal("heartbeat", "hello")
    assert person.returncode == 2 and person.stderr.startswith("ttal: whose heartbeat?")
    assert "Traceback" not in person.stderr
    table = box.ttal("watch", "--once")
    assert table.returncode == 0 and "(none)" in table.stdout, table.stderr


def test_the_loop_restarts_what_dies_until_interrupted(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid, name = started(box)
    loop = subprocess.Popen([sys.executable, "-m", "ttal", "watch", "--interval", "0.2"],
                            env=box.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        tmux(box, "kill-session", "-t", f"={name}")
        wait_for(lambda: to_human(box), 30, "the death alert")
        wait_for(lambda: box.get(uuid).get("ttal_health") == "ok", 30, "health ok")
    finally:
        loop.send_signal(signal.SIGINT)
        out, err = loop.communicate(timeout=30)
    assert loop.returncode == 130, err
    assert "restarted with ttal go (1/3)" in out and "healthy again" in out
    assert "Traceback" not in err
    assert name in box.sessions() and len(to_human(box)) == 1


def test_a_manager_left_waiting_on_a_dialog_is_reported_as_waiting(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """A permission dialog nobody answers (Claude's Notification hook reports `waiting`)
    is told apart from a hang: the alert says what to do."""
    script = tmp_path / "idle.yaml"
    script.write_text(by_hand.IDLE, encoding="utf-8")
    box = make_box(worker_script=script, reviewer_script=script,
                   extra_yaml="limits:\n  stuck_after: 1\n",
                   agents_yaml="boss: {role: manager, runtime: scripted-worker}")  # fmt: skip
    box.ttal("up", "boss", check=True)
    reported_idle(box, "boss")
    assert box.ttal("report", "waiting", "--agent", "boss").returncode == 0

    def alerts() -> list[str]:
        watch(box)
        return [m for m in to_human(box) if "boss" in m]

    [alert] = wait_for(alerts, 20, "a waiting alert")
    assert "manager boss has been waiting for a person for" in alert
    assert "`ttal attach boss`" in alert and "no output" not in alert
    assert row_of(watch(box), "boss")["state"].startswith("waiting ")
    assert len(alerts()) == 1  # once per quiet period
