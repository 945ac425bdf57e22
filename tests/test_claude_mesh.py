"""`ttal send` between two real Claude Code managers: `lead` asks `lead2` through its Bash
tool, `lead2` answers the same way, and each message arrives in the other's conversation as
a user turn with ttal's header, and is acknowledged by its UserPromptSubmit hook. Skipped,
with the reason, without the program.
"""

from __future__ import annotations

import json

from tests import test_claude_e2e as e2e
from tests.conftest import Box
from tests.fake_anthropic import Bash, FakeAnthropic, Say

# The fixtures of the Claude end-to-end tests: the program, the model server, the team.
claude_bin, fake, team = e2e.claude_bin, e2e.fake, e2e.team


def test_two_claude_managers_talk_through_the_mesh(team: Box, fake: FakeAnthropic) -> None:
    fake.on(
        "lead",
        "ask lead2 about the tests",
        Bash("ttal send --to lead2 'are the api tests green?'"),
        Say("asked lead2"),
    )
    fake.on("lead", "yes, 212 passed", Say("good news"))
    fake.on("lead2", "are the api tests green?",
            Bash("ttal send --to lead 'yes, 212 passed'"), Say("answered lead"))  # fmt: skip
    for name in ("lead", "lead2"):
        assert team.ttal("up", name, timeout=60).returncode == 0
    for name in ("lead", "lead2"):
        e2e.wait(team, fake, lambda n=name: e2e.status_of(team, n) == ("idle", "runtime"),  # type: ignore[misc]
                 f"{name}'s first turn")  # fmt: skip
    asked = json.loads(team.ttal("send", "--to", "lead", "--json", "ask lead2 about the tests",
                                 check=True).stdout)  # fmt: skip
    assert asked["status"] == "delivered", asked

    def turn_with(route: str, words: str) -> str:
        turns = [r.last_user_text() for r in fake.of(route)]
        return next((t for t in turns if words in t), "")

    question = e2e.wait(team, fake, lambda: turn_with("lead2", "are the api tests green?"),
                        "lead's question in lead2's conversation")  # fmt: skip
    answer = e2e.wait(team, fake, lambda: turn_with("lead", "yes, 212 passed"),
                      "lead2's answer in lead's conversation")  # fmt: skip
    inbox2 = json.loads(team.ttal("inbox", "lead2", "--json", check=True).stdout)["messages"]
    inbox1 = json.loads(team.ttal("inbox", "lead", "--json", check=True).stdout)["messages"]
    from_lead = [m for m in inbox2 if m["from"] == "lead"]
    from_lead2 = [m for m in inbox1 if m["from"] == "lead2"]
    assert [m["body"] for m in from_lead] == ["are the api tests green?"]
    assert [m["body"] for m in from_lead2] == ["yes, 212 passed"]
    assert f"[ttal #{from_lead[0]['id']} from lead]" in question
    assert '[reply with: ttal send --to lead "..."]' in question
    assert f"[ttal #{from_lead2[0]['id']} from lead2]" in answer
    for name, message in (("lead2", from_lead[0]), ("lead", from_lead2[0])):
        e2e.wait(team, fake, lambda n=name, m=message: e2e.acked(team, n).get(m["id"]),  # type: ignore[misc]
                 f"{name}'s hook to ack #{message['id']}")  # fmt: skip
