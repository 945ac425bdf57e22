"""`ttal log` and `ttal insights` on a history made by the real pipeline: scripted agents, real
task, git and tmux. Three tasks: one reworked once (the review lead asks for a test), one
straight through, one on the planned pipeline that waits for a person at its merge gate.
The figures are checked against what Taskwarrior and ttal's own tables say, not against
the code that computes them; the HTML report is drawn by a real browser (headless
Chromium), whose DOM and screenshot must show every chart's data points."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand, png
from tests.conftest import Box, wait_for
from tests.test_lean_imports import loaded
from ttal.cli.render_html import COLORS
from ttal.core.insights import day_of, percentile
from ttal.errors import Exit

TIMEOUT = 120


@pytest.fixture
def history(box: Box) -> dict[str, str]:
    """The three tasks, all merged; the planned one approved by a person after a wait."""
    tasks = {"reworked": box.add("Add a rate limit", "project:api"),
             "straight": box.add("Write notes", "project:web"),
             "gated": box.add("Plan the search page", "project:web", "+feature")}  # fmt: skip
    for uuid in tasks.values():
        box.ttal("go", uuid, check=True)
    for name in ("reworked", "straight"):
        wait_for(lambda u=tasks[name]: box.get(u)["status"] == "completed", TIMEOUT, name)
    gated = tasks["gated"]
    wait_for(lambda: "build_lgtm" in box.get(gated).get("tags", []), TIMEOUT, "build review")
    time.sleep(1.5)  # the person takes a moment: the gate's wait is measurable
    box.ttal("approve", gated, check=True)
    assert box.get(gated)["status"] == "completed"
    wait_for(lambda: not box.sessions(), TIMEOUT, "sessions cleaned up")
    return tasks


def as_json(box: Box, *args: str) -> Any:
    return json.loads(box.ttal(*args, "--json", check=True).stdout)


def written(box: Box, uuid: str, tag: str) -> float:
    [(ts,)] = by_hand.rows(box, "SELECT MIN(written_at) FROM tw_writes WHERE task = ? AND "
                           "field = ? AND state != 'failed'", uuid, f"+{tag}")  # fmt: skip
    return float(ts)


def event_time(box: Box, uuid: str, kind: str) -> float:
    [(ts,)] = by_hand.rows(box, "SELECT MIN(ts) FROM events WHERE task = ? AND kind = ?",
                           uuid, kind)  # fmt: skip
    return float(ts)


def test_log_of_a_reworked_task(box: Box, history: dict[str, str]) -> None:
    uuid = history["reworked"]
    log = as_json(box, "log", uuid[:8])
    assert (log["uuid"], log["status"], log["cost"]) == (uuid, "completed", None)
    entries = log["entries"]
    ours = [(e["source"], e["kind"] if e["source"] == "event" else e["text"]) for e in entries
            if e["source"] in ("tag", "event")]  # fmt: skip
    assert ours == [("event", "spawned"), ("tag", "+coded"), ("tag", "+reviewing"),
                    ("event", "review-started"), ("event", "changes-requested"),
                    ("event", "review-round"), ("tag", "+lgtm"), ("event", "approved"),
                    ("tag", "+merged"), ("event", "merged")]  # fmt: skip
    coded = next(e for e in entries if e["text"] == "+coded")
    assert coded["actor"] == f"w-{uuid[:8]}"  # from the `tagged` event it replaces
    journal = [(e["kind"], e["text"].split(":")[0]) for e in entries if e["source"] == "journal"]
    assert journal == [(a, "done") for a in ("worktree.add", "session.start", "session.start",
                                             "merge", "session.kill", "session.kill",
                                             "worktree.remove", "branch.delete")]  # fmt: skip
    notes = [e["text"] for e in entries if e["kind"] == "annotation"]
    assert notes == by_hand.annotations(box, uuid)
    sent = by_hand.rows(box, "SELECT sender, recipient FROM messages WHERE task = ? ORDER BY id",
                        uuid)  # fmt: skip
    assert [(e["actor"], e["text"].split(":")[0]) for e in entries if e["source"] == "message"] \
        == [(s, f"to {r}") for s, r in sent]  # fmt: skip
    assert len(sent) >= 3  # changes to the worker, round 2 to the lead, merged to the spawner
    assert (entries[0]["kind"], entries[-1]["kind"]) == ("created", "completed")
    times = [e["ts"] for e in entries[:-1]]
    assert times == sorted(times)
    implement, merge = log["stages"]
    assert (implement["stage"], implement["rounds"], implement["changes"]) == ("implement", 2, 1)
    assert implement["start"] == event_time(box, uuid, "spawned")
    assert implement["end"] == written(box, uuid, "lgtm") == merge["start"]
    assert merge["end"] == written(box, uuid, "merged") and merge["rounds"] == 0
    text = box.ttal("log", uuid, check=True).stdout
    assert "Timeline (" in text and "changes-requested" in text and "COST" not in text


def test_insights_match_the_history(box: Box, history: dict[str, str], tmp_path: Path) -> None:
    report = as_json(box, "insights", "--since", "1d")
    tasks = {name: box.get(uuid) for name, uuid in history.items()}
    assert report["tasks"] == 3 and report["merged"] == 3
    assert all(t["status"] == "completed" for t in tasks.values())
    assert tasks["reworked"]["ttal_round"] == 2
    assert (report["reviewed"], report["reworked"]) == (3, 1)
    assert report["rework_rate"] == pytest.approx(1 / 3)
    assert report["rounds"] == {"1": 1, "2": 2}  # straight 1; reworked 2; gated plan + build
    verdicts = {"review-lead": 0, "plan-lead": 0}
    for uuid in history.values():
        for note in by_hand.annotations(box, uuid):
            if re.match(r"review (implement|plan)( round \d+)?: (approved|changes)", note):
                verdicts["plan-lead" if note.startswith("review plan") else "review-lead"] += 1
    assert verdicts == {"review-lead": 4, "plan-lead": 1}
    rows = {a["name"]: (a["role"], a["stages"], a["merged"], a["verdicts"])
            for a in report["agents"]}  # fmt: skip
    assert rows == {"coder": ("worker", 4, 3, 0), "review-lead": ("reviewer", 0, 0, 4),
                    "plan-lead": ("reviewer", 0, 0, 1)}  # fmt: skip
    roles = {r["name"]: (r["stages"], r["merged"], r["verdicts"]) for r in report["roles"]}
    assert roles == {"worker": (4, 3, 0), "reviewer": (0, 0, 5)}

    took: dict[str, list[float]] = {}
    for uuid in history.values():  # the stages as `ttal log` has them
        for stage in as_json(box, "log", uuid)["stages"]:
            took.setdefault(stage["stage"], []).append(stage["seconds"])
    times = {s["stage"]: s for s in report["stage_times"]}
    assert {k: v["count"] for k, v in times.items()} == {"implement": 3, "merge": 3, "plan": 1}
    for stage, values in took.items():
        assert times[stage]["p50"] == pytest.approx(percentile(values, 50))
        assert times[stage]["p90"] == pytest.approx(percentile(values, 90))

    gated = history["gated"]
    waited = event_time(box, gated, "human-approved") - written(box, gated, "build_lgtm")
    assert waited >= 1.5
    assert [(t["state"], t["episodes"], t["agent"], t["task"]) for t in report["trouble"]] == [
        ("waiting", 1, "person", gated)]  # fmt: skip
    assert report["trouble"][0]["seconds"] == pytest.approx(waited)
    assert report["actions"] == [] and not by_hand.rows(
        box, "SELECT id FROM intents WHERE state NOT IN ('done', 'pending')"
    )
    merged_days = [day_of(event_time(box, u, "merged")) for u in history.values()]
    assert {d["day"]: d["merged"] for d in report["per_day"] if d["merged"]} == {
        d: merged_days.count(d) for d in merged_days}  # fmt: skip
    slowest = [(t["uuid"], t["rounds"]) for t in report["slowest"]]
    assert sorted(slowest) == sorted([(history["reworked"], 2), (history["straight"], 1),
                                      (gated, 2)])  # fmt: skip
    seconds = [t["seconds"] for t in report["slowest"]]
    assert seconds == sorted(seconds, reverse=True)
    assert report["cost_usd"] is None and report["costliest"] == []

    text = box.ttal("insights", check=True).stdout
    assert "rework rate 33%" in text and "Cycle time per stage" in text and "$" not in text
    _drawn_in_a_browser(box, report, tmp_path)


def _drawn_in_a_browser(box: Box, report: dict[str, Any], tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; `make "
                    "sysdeps` installs it): the HTML report's check needs a browser")  # fmt: skip
    page = tmp_path / "insights.html"
    proc = box.ttal("insights", "--since", "1d", "--html", str(page), check=True)
    assert f"wrote {page}" in proc.stdout
    want = {"per-day": len(report["per_day"]), "stage-times": 2 * len(report["stage_times"]),
            "throughput": len(report["agents"]), "rounds": len(report["rounds"]),
            "trouble": len(report["trouble"])}  # fmt: skip
    dom = _chromium(browser, tmp_path, "--dump-dom", str(page)).stdout
    found = {}
    for name, svg in re.findall(r'<svg[^>]*data-chart="([^"]+)"[^>]*>(.*?)</svg>', dom, re.S):
        found[name] = len(re.findall(r'<rect class="bar"', svg))
    assert found == want, dom[:2000]

    shot = tmp_path / "insights.png"
    _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=700,1700",
              "--force-device-scale-factor=0.5", str(page))  # fmt: skip
    _, _, pixels = png.read(shot)
    drawn = {color: png.runs(pixels, COLORS[color]) for color in
             ("per-day", "p50", "p90", "throughput", "rounds", "trouble")}  # fmt: skip
    nonzero = {"per-day": sum(1 for d in report["per_day"] if d["merged"]),
               "p50": sum(1 for s in report["stage_times"] if s["p50"] > 0),
               "p90": sum(1 for s in report["stage_times"] if s["p90"] > 0),
               "throughput": len(report["agents"]), "rounds": len(report["rounds"]),
               "trouble": len(report["trouble"])}  # fmt: skip
    assert drawn == nonzero


def _chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless, offline, with a profile of its own (never the user's)."""
    profile = tmp_path / "chromium-profile"
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}", *args]  # fmt: skip
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_a_death_until_its_restart_is_an_episode(make_box: Any, tmp_path: Path) -> None:
    """The watchdog's events make the episode (it records the death before the restart);
    `log` and `insights` load none of the heavy libraries (tests/test_lean_imports.py)."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Watch me", "project:api")
    name = f"w-{uuid[:8]}"
    box.ttal("go", uuid, check=True)
    subprocess.run(["tmux", "-L", box.sb.socket, "kill-session", "-t", f"={name}"], check=True)
    wait_for(lambda: name not in box.sessions(), 20, "the worker to die")
    box.ttal("watch", "--once", check=True)
    assert name in box.sessions()

    report = as_json(box, "insights", "--since", "2h")
    dead, restarted = (event_time(box, uuid, k) for k in ("watch-dead", "watch-restarted"))
    assert [(t["state"], t["episodes"], t["agent"], t["task"]) for t in report["trouble"]] == [
        ("dead", 1, name, uuid)]  # fmt: skip
    assert report["trouble"][0]["seconds"] == pytest.approx(restarted - dead)
    assert (report["tasks"], report["merged"], report["reviewed"]) == (1, 0, 0)
    assert report["rework_rate"] is None and report["rounds"] == {}
    log = as_json(box, "log", uuid)
    events = [(e["kind"], e["text"]) for e in log["entries"] if e["source"] == "event"]
    spawned = ("spawned", f"{name} on {box.get(uuid)['ttal_branch']}")
    assert events == [spawned, ("watch-dead", f"dead:{name}:unknown"),
                      spawned,  # the restart is `ttal go`'s spawn, in the same worktree
                      ("watch-restarted", f"{name}: restarted with ttal go (1/3)")]  # fmt: skip
    [implement, merge] = log["stages"]
    assert implement["start"] == event_time(box, uuid, "spawned") and implement["end"] is None
    assert merge["start"] is None

    assert loaded(box, "log", uuid) == [] and loaded(box, "insights") == []


def test_bad_input_is_refused_in_words_and_writes_nothing(box: Box, tmp_path: Path) -> None:
    before = by_hand.world(box)
    cases = [
        (["insights", "--since", "yesterday"], Exit.USAGE, "neither a span"),
        (["insights", "--since", "2999-01-01"], Exit.USAGE, "is not in the past"),
        (["insights", "--html", str(tmp_path / "no" / "such" / "dir.html")], Exit.USAGE,
         "cannot write"),
        (["log", "99999"], Exit.NOT_FOUND, "no task 99999"),
        (["log", "not-a-task"], Exit.NOT_FOUND, "is not a task reference"),
    ]  # fmt: skip
    for args, code, said in cases:
        proc = box.ttal(*args)
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert said in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert by_hand.world(box) == before
    assert not (tmp_path / "no").exists()
    for command in ("log", "insights"):
        helped = box.ttal(command, "--help", env={"COLUMNS": "200"}, check=True).stdout
        assert "--json" in helped and ("--since" in helped) == (command == "insights")
    empty = as_json(box, "insights")  # nothing happened yet: zeros and nothing made up
    assert (empty["tasks"], empty["merged"], empty["rework_rate"]) == (0, 0, None)
    assert empty["stage_times"] == [] and empty["trouble"] == []


def test_rows_are_read_by_date_and_the_rest_by_uuid(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """insights reads the pending tasks and those that ended in its window in one export
    each; a task that ended before it (yet has records in it) is read by uuid."""
    for key, value in box.env.items():
        monkeypatch.setenv(key, value)
    from ttal.engine.app import App
    from ttal.engine.records import read_rows

    early = box.add("Finished long ago", "project:api")
    assert box.task(early, "done").returncode == 0
    pending = box.add("Still open", "project:api")
    stranger = box.add("Not ttal's", "project:api")
    unknown = "00000000-0000-4000-8000-000000000000"
    app = App.load(box.sb.config)
    later = time.time() + 5  # after the first task ended: only its uuid finds it
    for since in (later, None, 0.0):
        rows = read_rows(app, [pending, unknown, early, pending], since)
        assert [r["uuid"] for r in rows] == [pending, early], since
    assert stranger not in [r["uuid"] for r in read_rows(app, [early], 0.0)]


def test_a_refused_merge_is_a_failed_action(make_box: Any, tmp_path: Path) -> None:
    """Two branches change one line: the second merge is refused before anything moves. Its
    journal intent did not happen (skipped): insights lists it, log shows the refusal."""
    box = by_hand.idle_box(make_box, tmp_path)
    first, second = box.add("Greet with hello", "project:api"), box.add("Greet", "project:api")
    for uuid, word in ((first, "hello"), (second, "howdy")):
        box.ttal("go", uuid, check=True)
        by_hand.commit(box, uuid, "greeting.txt", f"{word}\n")
        box.ttal("go", uuid, env=by_hand.worker_env(uuid), check=True)
    for uuid in (first, second):
        box.ttal("review", "approve", env=by_hand.reviewer_env(uuid), check=True)
        wait_for(lambda u=uuid: box.get(u)["status"] == "completed"
                 or by_hand.events(box, "merge-refused", u), TIMEOUT, "the merge")  # fmt: skip
    assert box.get(second)["status"] == "pending"

    failed = by_hand.rows(box, "SELECT id, action, task, state FROM intents WHERE state "
                          "NOT IN ('done', 'pending') ORDER BY id")  # fmt: skip
    assert [(a, t, s) for _, a, t, s in failed] == [("merge", second, "skipped")]
    report = as_json(box, "insights")
    assert [(a["id"], a["action"], a["task"], a["state"]) for a in report["actions"]] == failed
    assert report["actions"][0]["note"].startswith("not done:")
    assert (report["tasks"], report["merged"], report["reviewed"]) == (2, 1, 2)
    entries = as_json(box, "log", second)["entries"]
    refused = [e["kind"] for e in entries if e["kind"] in ("merge", "merge-refused", "approved")]
    assert refused == ["approved", "merge", "merge-refused"]
    assert next(e for e in entries if e["kind"] == "merge")["text"].startswith("skipped: ")
