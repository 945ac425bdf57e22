"""Cost and budgets with the real Claude Code (docs/cost.md): the scripted model server
(tests/fake_anthropic.py) reports known usage with each reply; ttal reads it back from the
transcripts Claude Code writes, and stops a task whose replies cross its budget.
Skipped, with the reason, when the program is not installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import by_hand
from tests import test_claude_e2e as e2e
from tests.conftest import Box
from tests.e2e_helpers import status_of, wait
from tests.fake_anthropic import Bash, FakeAnthropic, Say
from tests.test_budget import budget_messages, budget_rows
from tests.test_watch import watch
from ttal.core.costs import dollars
from ttal.core.prices import DEFAULT_PRICES

# The fixtures of the Claude end-to-end tests: the program, the model server, the team.
claude_bin, fake, team = e2e.claude_bin, e2e.fake, e2e.team
SONNET = DEFAULT_PRICES["claude-sonnet-4-5"]  # the fake server's model (dated id)


def cost_of(box: Box, uuid: str) -> dict[str, Any]:
    report = json.loads(box.ttal("cost", uuid, "--json", check=True).stdout)
    return dict(report["tasks"][0]) if report["tasks"] else {"tokens": 0}


def test_recorded_tokens_and_cost_equal_what_the_server_billed(
    team: Box, fake: FakeAnthropic
) -> None:
    fake.usage("worker", input=1200, output=340, cache_read=5000, cache_write=800)
    fake.script("worker", Bash("echo one > one.txt"), Bash("echo two > two.txt"), Say("halfway"))
    uuid = team.add("Count my tokens", "project:api")
    team.ttal("go", uuid, check=True)
    wait(team, fake, lambda: fake.pending("worker") == 0 and len(fake.sent) >= 3, "3 replies")
    billed = fake.billed("worker")
    keys = ("input_tokens", "output_tokens", "cache_read_input_tokens",
            "cache_creation_input_tokens")  # fmt: skip
    expected = tuple(billed[k] for k in keys)
    assert expected == (3600, 1020, 15000, 2400), billed  # three replies, as scripted

    def recorded() -> tuple[int, int, int, int]:
        row = cost_of(team, uuid)
        return (row.get("input", 0), row.get("output", 0), row.get("cache_read", 0),
                row.get("cache_write", 0))  # fmt: skip

    wait(team, fake, lambda: recorded() == expected, f"ttal cost to show {expected}")
    row = cost_of(team, uuid)
    assert row["usd"] == round(dollars(SONNET, expected), 6) and row["unpriced_tokens"] == 0
    assert row["models"] == ["claude-sonnet-4-5-20250929"]
    assert list(row["stages"]) == ["implement"]
    # Read again, nothing is counted twice; the transcript is where Claude Code keeps it.
    assert recorded() == expected
    sid = team.get(uuid)["ttal_session_id"]
    cursor = by_hand.rows(team, "SELECT path, offset FROM usage_cursors WHERE session_id = ?", sid)
    assert cursor and cursor[0][0].endswith(f"/{sid}.jsonl"), cursor
    assert cursor[0][1] == Path(cursor[0][0]).stat().st_size or cursor[0][1] > 0


def test_budget_stops_a_claude_worker_mid_task_and_approval_lets_it_go_on(
    team: Box, fake: FakeAnthropic
) -> None:
    text = team.sb.config.read_text(encoding="utf-8")
    team.sb.config.write_text(text + "limits:\n  budget:\n    task: 20k\n", encoding="utf-8")
    fake.usage("worker", input=5000, output=1000)  # 6,000 tokens a reply
    fake.script("worker", Bash("echo wip > wip.txt"), Bash("true"), Say("paused"))
    # The reply that crosses the budget runs a long command: the stop comes mid-turn.
    fake.on("worker", "continue please", Bash("echo more >> wip.txt && sleep 300"))
    uuid = team.add("Burn tokens", "project:api")
    team.ttal("go", uuid, check=True)
    worker = f"w-{uuid[:8]}"
    wait(team, fake, lambda: len(fake.of("worker")) == 3, "three replies: 18k tokens")
    wait(team, fake, lambda: cost_of(team, uuid)["tokens"] == 18000, "18k recorded")

    warned = budget_rows(watch(team))
    assert [r["state"] for r in warned] == ["18.0k tokens of 20.0k tokens"], warned
    assert budget_messages(team) == [("human", "budget-warn")]
    team.ttal("send", "--to", worker, "continue please", check=True)
    wait(team, fake, lambda: len(fake.of("worker")) == 4, "the reply past the budget")
    wait(team, fake, lambda: cost_of(team, uuid)["tokens"] == 24000, "24k recorded")
    wait(team, fake, lambda: status_of(team, worker) == ("busy", "runtime"), "busy")

    stopped = budget_rows(watch(team))  # within one pass: ended, marked, told
    assert f"ended {worker} (worktree kept)" in stopped[0]["did"], stopped
    assert worker not in team.sessions()
    tree = Path(team.get(uuid)["ttal_worktree"])
    assert (tree / "wip.txt").read_text() == "wip\nmore\n"  # uncommitted, and kept
    assert team.get(uuid)["ttal_health"] == "budget:task"
    assert budget_rows(watch(team)) == [] and worker not in team.sessions()
    assert budget_messages(team) == [("human", "budget-warn"), ("human", "budget-stop")]
    refused = team.ttal("go", uuid)
    assert refused.returncode == 12 and "--budget" in refused.stderr, refused.stderr

    team.ttal("approve", uuid, "--budget", "100k", check=True)
    fake.on("worker", "Continue where you left off", Say("back at work"))
    team.ttal("go", uuid, check=True)  # Claude Code resumes its conversation

    def said() -> list[str]:
        return [t.text for r, t in fake.served if r == "worker" and isinstance(t, Say)]

    wait(team, fake, lambda: "back at work" in said(), "the resumed turn")
    assert worker in team.sessions() and (tree / "wip.txt").exists()
