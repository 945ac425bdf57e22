"""Budgets that stop work (docs/cost.md), with the scripted runtime: its `usage` steps write
model replies as Claude Code writes them, and `ttal watch --once` reads them and acts.
Real task, git and tmux. The same stop against the real Claude Code is in
tests/test_cost_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.test_watch import watch

LEAD = {"TTAL_AGENT": "lead", "TTAL_ROLE": "manager"}
# 850 tokens (85 % of the budget), an uncommitted change, then, once told, 300 more.
SPENDER = """\
- usage: {model: claude-sonnet-4-5, input: 600, output: 250}
- write: {path: wip.txt, text: "not committed yet\\n"}
- wait: "go on"
- usage: {model: claude-sonnet-4-5, input: 200, output: 100}
- idle: true
"""


def spender_box(make_box: Callable[..., Box], tmp_path: Path, budget: str,
                extra: str = "") -> Box:  # fmt: skip
    script = tmp_path / "spender.yaml"
    script.write_text(SPENDER, encoding="utf-8")
    idle = tmp_path / "idle.yaml"
    idle.write_text(by_hand.IDLE, encoding="utf-8")
    return make_box(worker_script=script, reviewer_script=idle,
                    agents_yaml="lead: {role: manager, runtime: scripted-reviewer}",
                    extra_yaml=f"limits:\n  budget:\n{budget}{extra}")  # fmt: skip


def usage_lines(box: Box, name: str) -> int:
    path = box.sb.state_dir / "run" / f"{name}.usage.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def budget_messages(box: Box) -> list[tuple[str, str]]:
    """(recipient, key) of every budget message, oldest first."""
    sql = "SELECT recipient, key FROM messages WHERE key LIKE 'budget-%' ORDER BY id"
    return [(r[0], r[1].split(":")[0]) for r in by_hand.rows(box, sql)]


def budget_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["kind"] == "budget"]


def test_task_over_budget_is_stopped_kept_and_goes_on_after_approval(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"  # what a person's notify command got
    box = spender_box(make_box, tmp_path, "    task: 1000\n", f"notify: cat >> {notes}\n")
    uuid = box.add("Spend tokens", "project:api")
    box.ttal("go", uuid, env=LEAD, check=True)  # spawned by the manager `lead`
    worker = f"w-{uuid[:8]}"
    wait_for(lambda: usage_lines(box, worker) == 1, 30, "the first reply's usage")
    tree = Path(box.get(uuid)["ttal_worktree"])
    wait_for(lambda: (tree / "wip.txt").exists(), 30, "the uncommitted change")

    warned = budget_rows(watch(box))  # 850 of 1000: told once, nothing stopped
    assert [r["state"] for r in warned] == ["850 tokens of 1.0k tokens"], warned
    assert budget_messages(box) == [("human", "budget-warn"), ("lead", "budget-warn")]
    assert notes.read_text().count("Budget: task") == 1 and "(80 %)" in notes.read_text()
    assert worker in box.sessions()
    assert budget_rows(watch(box)) == []  # a second pass at 85 % tells nobody again

    box.ttal("send", "--to", worker, "go on", check=True)
    wait_for(lambda: usage_lines(box, worker) == 2, 30, "the reply that crosses the budget")
    stopped = budget_rows(watch(box))  # one pass: ended, marked, told
    assert stopped and stopped[0]["state"] == "1.1k tokens of 1.0k tokens", stopped
    assert f"ended {worker} (worktree kept)" in stopped[0]["did"], stopped
    assert worker not in box.sessions()
    task = box.get(uuid)
    assert task["ttal_health"] == "budget:task" and task["status"] == "pending"
    assert (tree / "wip.txt").read_text() == "not committed yet\n"  # uncommitted work kept
    assert "wip.txt" in by_hand.sandbox.git(tree, "status", "--porcelain")
    assert budget_messages(box)[2:] == [("human", "budget-stop"), ("lead", "budget-stop")]
    stop_text = by_hand.rows(box, "SELECT body FROM messages WHERE recipient = 'human' "
                             "AND key LIKE 'budget-stop%'")[0][0]  # fmt: skip
    assert f"ttal approve {uuid[:8]} --budget" in stop_text and "limits.budget.task" in stop_text

    # Nothing restarts by itself, and nothing new starts in its scope.
    again = watch(box)
    assert worker not in box.sessions() and budget_rows(again) == []
    assert not [r for r in again if r["agent"] == worker], again
    assert len(budget_messages(box)) == 4  # each message went out once
    assert notes.read_text().count("[ttal] from ttal: Budget: task") == 2
    refused = box.ttal("go", uuid)
    assert refused.returncode == 12, refused.stdout + refused.stderr
    assert f"ttal approve {uuid[:8]} --budget AMOUNT" in refused.stderr
    assert worker not in box.sessions()

    # Only a person approves more; then it goes on.
    agent = box.ttal("approve", uuid, "--budget", "5000", env=LEAD)
    assert agent.returncode == 13, agent.stdout + agent.stderr
    dollars = box.ttal("approve", uuid, "--budget", "$5")  # this budget counts tokens
    assert dollars.returncode == 2 and "counts tokens, not usd" in dollars.stderr
    approved = json.loads(box.ttal("approve", uuid, "--budget", "5k", "--json",
                                   check=True).stdout)  # fmt: skip
    assert approved["lifted"] == [f"task:{uuid}"] and approved["amount"] == 5000
    assert box.get(uuid).get("ttal_health", "") == ""
    box.ttal("go", uuid, check=True)
    wait_for(lambda: worker in box.sessions(), 20, "the worker started again")
    assert budget_rows(watch(box)) == []  # 1.1k of 6k: not even a warning
    assert (tree / "wip.txt").exists()


def test_fleet_budget_stops_every_session_and_refuses_spawns(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = spender_box(make_box, tmp_path, "    fleet_day: 800\n")
    first, second = box.add("Spend tokens", "project:api"), box.add("Spend more", "project:web")
    box.ttal("go", first, check=True)
    wait_for(lambda: usage_lines(box, f"w-{first[:8]}") == 1, 30, "the first reply's usage")

    stopped = budget_rows(watch(box))  # 850 of 800 tokens today
    assert [r["state"] for r in stopped] == ["850 tokens of 800 tokens"], stopped
    assert box.sessions() == []
    assert box.get(first)["ttal_health"] == "budget:fleet_day"
    refused = box.ttal("go", second)  # another project: the fleet is out of budget today
    assert refused.returncode == 12 and "budget fleet:" in refused.stderr, refused.stderr
    assert box.sessions() == [] and not box.get(second).get("ttal_session")
    approved = json.loads(box.ttal("approve", first, "--budget", "10k", "--json",
                                   check=True).stdout)  # fmt: skip
    assert [k.split(":")[0] for k in approved["lifted"]] == ["fleet"], approved
    box.ttal("go", second, check=True)
    wait_for(lambda: f"w-{second[:8]}" in box.sessions(), 20, "the second task's worker")


def test_money_budget_counts_priced_models_and_config_names_its_errors(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = spender_box(make_box, tmp_path, "    task: $0.01\n")
    uuid = box.add("Spend tokens", "project:api")
    box.ttal("go", uuid, check=True)
    wait_for(lambda: usage_lines(box, f"w-{uuid[:8]}") == 1, 30, "the first reply's usage")
    # claude-sonnet-4-5: 600 x $3 + 250 x $15 per million = $0.00555, 55 % of a cent
    assert budget_rows(watch(box)) == []
    report = json.loads(box.ttal("cost", uuid, "--json", check=True).stdout)
    [row] = report["tasks"]
    assert (row["input"], row["output"], row["tokens"]) == (600, 250, 850)
    assert row["usd"] == 0.00555 and row["stages"]["implement"]["usd"] == 0.00555
    status = json.loads(box.ttal("status", "--json", check=True).stdout)
    [shown] = [t for t in status["tasks"] if t["uuid"] == uuid]
    assert shown["cost"] == "$0.01" and shown["usage"]["tokens"] == 850
    text = box.ttal("cost", check=True).stdout
    assert f"{uuid[:8]}  $0.01  850" in text and "implement $0.01" in text, text
    assert "$0.01" in box.ttal("status", check=True).stdout

    box.sb.config.write_text(box.sb.config.read_text().replace("$0.01", "lots"))
    bad = box.ttal("status")
    assert bad.returncode == 10 and "limits.budget.task: 'lots' is not an amount" in bad.stderr


def test_a_crash_after_the_stop_is_recorded_is_finished_by_the_next_pass(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = spender_box(make_box, tmp_path, "    task: 800\n")
    uuid = box.add("Spend tokens", "project:api")
    box.ttal("go", uuid, check=True)
    worker = f"w-{uuid[:8]}"
    wait_for(lambda: usage_lines(box, worker) == 1, 30, "the first reply's usage")
    log = tmp_path / "fault.log"
    crashed = box.ttal("watch", "--once", env={"TTAL_FAULT": "budget.stopped",
                                               "TTAL_FAULT_LOG": str(log)})  # fmt: skip
    assert crashed.returncode == 137 and log.read_text().startswith("budget.stopped")
    assert worker in box.sessions() and budget_messages(box) == []  # killed mid-stop
    report = json.loads(box.ttal("cost", "--json", check=True).stdout)
    assert report["stops"] == [f"task:{uuid}"]  # recorded first: nothing of it may start

    finished = budget_rows(watch(box))
    assert f"ended {worker} (worktree kept)" in finished[0]["did"], finished
    assert worker not in box.sessions() and box.get(uuid)["ttal_health"] == "budget:task"
    assert budget_messages(box) == [("human", "budget-stop")]
    assert budget_rows(watch(box)) == [] and len(budget_messages(box)) == 1


PLANNER = """\
- usage: {model: claude-sonnet-4-5, input: 100}
- ttal: [go, --note, "Plan: write the docs"]
- wait: "stage implement"
- usage: {model: claude-sonnet-4-5, input: 200}
- write: {path: "docs/{short}.md", text: "# {description}\\n"}
- sh: "git add -A && git commit -qm 'Docs ({short})'"
- ttal: [go]
- idle: true
"""
REVIEWER = """\
- usage: {model: claude-sonnet-4-5, output: 50}
- ttal: [review, approve, --note, ok]
- idle: true
"""


def test_usage_goes_to_the_stage_whose_session_spent_it(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    worker, reviewer = tmp_path / "planner.yaml", tmp_path / "reviewer.yaml"
    worker.write_text(PLANNER, encoding="utf-8")
    reviewer.write_text(REVIEWER, encoding="utf-8")
    box = make_box(worker_script=worker, reviewer_script=reviewer)
    uuid = box.add("Plan and build", "project:api", "+feature")  # the planned pipeline
    box.ttal("go", uuid, check=True)
    wait_for(lambda: "build_lgtm" in box.get(uuid)["tags"], 60, "both stages reviewed")
    wait_for(lambda: usage_lines(box, f"r-{uuid[:8]}-implement") == 1, 20, "the last usage")
    [row] = json.loads(box.ttal("cost", uuid, "--json", check=True).stdout)["tasks"]
    stages = {name: c["tokens"] for name, c in row["stages"].items()}
    assert stages == {"plan": 100 + 50, "implement": 200 + 50}, row["stages"]
    assert row["tokens"] == 400 and row["input"] == 300 and row["output"] == 100
    replies = by_hand.rows(box, "SELECT session, stage, input + output FROM usage WHERE "
                           "task = ? ORDER BY at", uuid)  # fmt: skip
    assert replies == [(f"w-{uuid[:8]}", "plan", 100), (f"r-{uuid[:8]}-plan", "plan", 50),
                       (f"w-{uuid[:8]}", "implement", 200),
                       (f"r-{uuid[:8]}-implement", "implement", 50)]  # fmt: skip


def test_project_day_budget_stops_that_project_only(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = spender_box(make_box, tmp_path, "    project_day: 800\n")
    spender, sibling = box.add("Spend tokens", "project:api"), box.add("Wait", "project:api")
    elsewhere = box.add("Spend elsewhere", "project:web")
    box.ttal("go", spender, check=True)
    wait_for(lambda: usage_lines(box, f"w-{spender[:8]}") == 1, 30, "the first reply's usage")
    stopped = budget_rows(watch(box))
    assert [r["state"] for r in stopped] == ["850 tokens of 800 tokens"], stopped
    assert box.get(spender)["ttal_health"] == "budget:project_day:api"
    refused = box.ttal("go", sibling)  # the same project, today: refused
    assert refused.returncode == 12 and "budget project:api:" in refused.stderr, refused.stderr
    box.ttal("go", elsewhere, check=True)  # another project goes on
    assert box.sessions() == [f"w-{elsewhere[:8]}"]
    approved = json.loads(box.ttal("approve", sibling, "--budget", "2k", "--json",
                                   check=True).stdout)  # fmt: skip
    assert [k.rsplit(":", 1)[0] for k in approved["lifted"]] == ["project:api"], approved
    assert box.get(spender).get("ttal_health", "") == ""  # the stop it held is lifted too
    box.ttal("go", sibling, check=True)
    assert f"w-{sibling[:8]}" in box.sessions()
