"""The cost `ttal log` and `ttal insights` show, on a history made by the real pipeline:
scripted agents whose `usage:` steps write model replies with known token counts (as Claude
Code writes them to its transcript), real task, git and tmux. Nobody runs `ttal watch`:
`log` and `insights` read the new usage themselves, as `ttal cost` does.

Three tasks: one reworked once (its worker and its review lead spend twice), one on the
planned pipeline whose plan stage ran on a model with no price (its cost is unknown,
never $0), and one that spent nothing (no cost shown, not a zero). The expected figures
are summed here from the scripts' numbers and from the lines the scripts wrote, priced
with the test's own price table."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Box, wait_for
from tests.test_insights_e2e import _drawn_in_a_browser, as_json
from ttal.core.insights import day_of

TIMEOUT = 120
# dollars per million tokens: input, output, cache_read, cache_write (`local-llm`: no price)
PRICE = (2.0, 10.0, 0.5, 4.0)
PRICES = "prices:\n  test-priced: {input: 2, output: 10, cache_read: 0.5, cache_write: 4}\n"

WORKER = """\
cases:
  - match: "rate limit"
    steps:
      - usage: {model: test-priced, input: 1000, output: 200, cache_read: 5000, cache_write: 300}
      - write: {path: "ratelimit.py", text: "LIMIT = 100\\n"}
      - sh: "git add -A && git commit -qm 'Add a rate limit ({short})'"
      - ttal: [go]
      - wait: "changes requested"
      - usage: {model: test-priced, input: 400, output: 100}
      - write: {path: "test_ratelimit.py", text: "def test_limit():\\n    pass\\n"}
      - sh: "git add -A && git commit -qm 'Test the rate limit ({short})'"
      - ttal: [go]
      - idle: true
  - match: "plan"
    steps:
      - usage: {model: local-llm, input: 700, output: 70}
      - ttal: [go, --note, "Plan: add docs/{short}.md"]
      - wait: "stage implement"
      - usage: {model: test-priced, input: 2000, output: 500}
      - write: {path: "docs/{short}.md", text: "# {description}\\n"}
      - sh: "git add -A && git commit -qm 'Docs ({short})'"
      - ttal: [go]
      - idle: true
  - steps:
      - write: {path: "notes/{short}.md", text: "# {description}\\n"}
      - sh: "git add -A && git commit -qm '{description} ({short})'"
      - ttal: [go]
      - idle: true
"""

REVIEWER = """\
cases:
  - match: "rate limit"
    steps:
      - usage: {model: test-priced, input: 3000, output: 60}
      - ttal: [review, changes, "please add a test for the limit"]
      - wait: "round 2"
      - usage: {model: test-priced, input: 3500, output: 40}
      - ttal: [review, approve, --note, "tested now"]
      - idle: true
  - match: "notes"
    steps:
      - ttal: [review, approve, --note, "looks good"]
      - idle: true
  - steps:
      - usage: {model: test-priced, input: 800, output: 20}
      - ttal: [review, approve, --note, "looks good"]
      - idle: true
"""

Counts = tuple[int, int, int, int]
# What the scripts spend: (task, stage, agent, model, counts), one row per `usage:` step.
SPENT: list[tuple[str, str, str, str, Counts]] = [
    ("reworked", "implement", "coder", "test-priced", (1000, 200, 5000, 300)),
    ("reworked", "implement", "coder", "test-priced", (400, 100, 0, 0)),
    ("reworked", "implement", "review-lead", "test-priced", (3000, 60, 0, 0)),
    ("reworked", "implement", "review-lead", "test-priced", (3500, 40, 0, 0)),
    ("gated", "plan", "coder", "local-llm", (700, 70, 0, 0)),
    ("gated", "plan", "plan-lead", "test-priced", (800, 20, 0, 0)),
    ("gated", "implement", "coder", "test-priced", (2000, 500, 0, 0)),
    ("gated", "implement", "review-lead", "test-priced", (800, 20, 0, 0)),
]


class Sum:
    """Tokens, the priced dollars and the unpriced tokens of some replies."""

    def __init__(self) -> None:
        self.tokens, self.usd, self.unpriced = 0, 0.0, 0

    def add(self, model: str, counts: Counts) -> None:
        self.tokens += sum(counts)
        if model == "local-llm":
            self.unpriced += sum(counts)
        else:
            self.usd += sum(n * p for n, p in zip(counts, PRICE, strict=True)) / 1_000_000

    def usd_shown(self) -> float | None:
        """--json: the cost, null when part of it is unknown."""
        return None if self.unpriced else pytest.approx(self.usd, abs=1e-12)


def sums(key: Callable[[tuple[str, str, str, str, Counts]], Any]) -> dict[Any, Sum]:
    found: dict[Any, Sum] = defaultdict(Sum)
    for row in SPENT:
        found[key(row)].add(row[3], row[4])
    return dict(found)


@pytest.fixture
def history(make_box: Callable[..., Box], tmp_path: Path) -> tuple[Box, dict[str, str]]:
    worker, reviewer = tmp_path / "worker.yaml", tmp_path / "reviewer.yaml"
    worker.write_text(WORKER, encoding="utf-8")
    reviewer.write_text(REVIEWER, encoding="utf-8")
    box = make_box(worker_script=worker, reviewer_script=reviewer, extra_yaml=PRICES)
    tasks = {"reworked": box.add("Add a rate limit", "project:api"),
             "gated": box.add("Plan the search page", "project:web", "+feature"),
             "quiet": box.add("Write notes", "project:web")}  # fmt: skip
    for uuid in tasks.values():
        box.ttal("go", uuid, check=True)
    for name in ("reworked", "quiet"):
        wait_for(lambda u=tasks[name]: box.get(u)["status"] == "completed", TIMEOUT, name)
    gated = tasks["gated"]
    wait_for(lambda: "build_lgtm" in box.get(gated).get("tags", []), TIMEOUT, "build review")
    box.ttal("approve", gated, check=True)
    wait_for(lambda: not box.sessions(), TIMEOUT, "sessions cleaned up")
    return box, tasks


def written_lines(box: Box) -> list[dict[str, Any]]:
    """Every reply the scripted agents wrote, from their usage files."""
    found = []
    for path in sorted((box.sb.state_dir / "run").glob("*.usage.jsonl")):
        found += [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    return found


def test_log_and_insights_show_the_recorded_cost(
    history: tuple[Box, dict[str, str]], tmp_path: Path
) -> None:
    box, tasks = history
    # ---- ttal log: cost per stage, read by `log` itself (no watch ran) ----
    per_stage = sums(lambda r: (r[0], r[1]))
    for name, uuid in tasks.items():
        log = as_json(box, "log", uuid)
        shown = {s["stage"]: s["cost"] for s in log["stages"] if s["cost"] is not None}
        want = {stage: s for (task, stage), s in per_stage.items() if task == name}
        assert set(shown) == set(want), (name, shown)
        for stage, s in want.items():
            assert shown[stage]["tokens"] == s.tokens and shown[stage]["unpriced"] == s.unpriced
            assert shown[stage]["usd"] == s.usd_shown(), (name, stage, shown[stage])
            if s.unpriced:  # the priced part apart; the whole is unknown
                assert shown[stage]["usd_known_part"] == pytest.approx(s.usd, abs=1e-12)
        assert log["cost"] == (shown or None)
    quiet = box.ttal("log", tasks["quiet"], check=True).stdout
    assert "COST" not in quiet and "$" not in quiet  # nothing spent: no column, never $0
    gated = box.ttal("log", tasks["gated"], check=True).stdout
    plan = next(line for line in gated.splitlines() if line.startswith("plan "))
    assert plan.split()[-1] == "<$0.01+?" and "$0.00" not in gated  # partly unpriced
    assert f"${per_stage['gated', 'implement'].usd:,.2f}" in gated

    # ---- ttal insights: total, per task, agent and day, the most expensive ----
    report = as_json(box, "insights", "--since", "1d")
    total = sums(lambda r: "all")["all"]
    assert (report["cost_tokens"], report["cost_unpriced"]) == (total.tokens, total.unpriced)
    assert report["cost_usd"] is None  # a model without a price: the total is unknown
    assert report["cost_usd_known_part"] == pytest.approx(total.usd, abs=1e-12)

    per_agent = sums(lambda r: r[2])
    agents = {a["name"]: a for a in report["agents"]}
    assert set(agents) == set(per_agent)
    for name, s in per_agent.items():
        assert agents[name]["usd"] == s.usd_shown(), (name, agents[name])
        assert agents[name]["unpriced"] == s.unpriced

    per_task = sums(lambda r: tasks[r[0]])
    costliest = [(t["uuid"], t["tokens"], t["usd"], t["unpriced"]) for t in report["costliest"]]
    want_rows = sorted(per_task.items(), key=lambda kv: -kv[1].usd)
    assert costliest == [(u, s.tokens, s.usd_shown(), s.unpriced) for u, s in want_rows]
    assert costliest[0][0] == tasks["reworked"]  # the most expensive task
    assert tasks["quiet"] not in {t["uuid"] for t in report["costliest"]}
    slowest = {t["uuid"]: (t["tokens"], t["usd"]) for t in report["slowest"]}
    assert slowest[tasks["quiet"]] == (None, None)  # no records: no number, not a zero

    # per day: summed from the lines the scripts wrote, by their UTC day
    lines = written_lines(box)
    assert len(lines) == len(SPENT)
    per_day: dict[str, Sum] = defaultdict(Sum)
    for line in lines:
        msg, stamp = line["message"], line["timestamp"]
        u = msg["usage"]
        counts = (u["input_tokens"], u["output_tokens"], u["cache_read_input_tokens"],
                  u["cache_creation_input_tokens"])  # fmt: skip
        per_day[day_of(datetime.fromisoformat(stamp).timestamp())].add(msg["model"], counts)
    days = {d["day"]: d for d in report["per_day"]}
    for day, line in days.items():
        s = per_day.get(day)
        if s is None:
            assert (line["usd"], line["unpriced"]) == (0.0, 0), line
        else:
            assert line["usd"] == s.usd_shown() and line["unpriced"] == s.unpriced, line
    assert set(per_day) <= set(days)

    text = box.ttal("insights", "--since", "1d", check=True).stdout
    assert "Most expensive tasks" in text and f"for {total.tokens:,} tokens" in text
    assert f"cost: ${total.usd:,.2f}+?" in text
    _drawn_in_a_browser(box, report, tmp_path)
