"""Cost with the real Codex (docs/cost.md): the scripted Responses API server
(tests/fake_openai.py) reports known usage with each reply; ttal reads it back from the
rollout Codex writes under its CODEX_HOME. Skipped, with the reason, when the program is
not installed."""

from __future__ import annotations

import json
from pathlib import Path

from tests import by_hand
from tests import test_codex_e2e as e2e
from tests.conftest import Box
from tests.e2e_helpers import wait
from tests.fake_openai import FakeOpenAI, Say, Shell
from ttal.core.costs import dollars
from ttal.core.prices import DEFAULT_PRICES

# The fixtures of the Codex end-to-end tests: the program, its home, the server, the team.
codex_bin, codex_home, fake, team = e2e.codex_bin, e2e.codex_home, e2e.fake, e2e.team
_real_codex_home_untouched = e2e._real_codex_home_untouched


def test_recorded_tokens_and_cost_equal_what_the_server_billed(
    team: Box, fake: FakeOpenAI, codex_home: Path
) -> None:
    fake.usage("worker", input=2000, output=150, cached=1500)
    fake.script("worker", Shell("echo one > one.txt"), Shell("echo two > two.txt"), Say("half"))
    uuid = team.add("Count my tokens", "project:api")
    team.ttal("go", uuid, check=True)
    wait(team, fake, lambda: fake.pending("worker") == 0 and len(fake.sent) >= 3, "3 replies")
    billed = fake.billed("worker")
    assert billed == {"input_tokens": 6000, "cached_tokens": 4500, "output_tokens": 450}
    # OpenAI counts cache reads inside input; ttal keeps them apart, as Anthropic does.
    expected = (6000 - 4500, 450, 4500, 0)

    def recorded() -> tuple[int, int, int, int]:
        report = json.loads(team.ttal("cost", uuid, "--json", check=True).stdout)
        row = report["tasks"][0] if report["tasks"] else {}
        return (row.get("input", 0), row.get("output", 0), row.get("cache_read", 0),
                row.get("cache_write", 0))  # fmt: skip

    wait(team, fake, lambda: recorded() == expected, f"ttal cost to show {expected}")
    [row] = json.loads(team.ttal("cost", uuid, "--json", check=True).stdout)["tasks"]
    assert row["models"] == ["gpt-5-codex"] and row["stages"].keys() == {"implement"}
    assert row["usd"] == round(dollars(DEFAULT_PRICES["gpt-5-codex"], expected), 6)
    # The rollout under CODEX_HOME, found by the id Codex chose (its SessionStart hook).
    sid = (team.sb.state_dir / "run" / f"w-{uuid[:8]}.session-id").read_text().strip()
    cursor = by_hand.rows(team, "SELECT path FROM usage_cursors WHERE session_id = ?", sid)
    assert cursor and cursor[0][0].startswith(str(codex_home / "sessions")), cursor
    assert cursor[0][0].endswith(f"-{sid}.jsonl")
