"""`ttal breathe` with the real Claude Code: a manager that breathes from inside (its own Bash
tool runs `ttal breathe`) and one a person breathes from a shell. Each time the handoff
lands in the diary, the old conversation ends, and a new one starts with a new session id
(no --resume) whose first turn and SessionStart context carry the diary's tail; messages
sent meanwhile reach the new conversation. Skipped, with the reason, without the program.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests import by_hand
from tests import test_claude_e2e as e2e
from tests.conftest import Box
from tests.e2e_helpers import bodies, status_of, wait
from tests.fake_anthropic import Bash, FakeAnthropic, Request, Say
from tests.test_claude_e2e import body_text

# The fixtures of the Claude end-to-end tests: the program, the model server, the team.
claude_bin, fake, team = e2e.claude_bin, e2e.fake, e2e.team


def session_id(box: Box, name: str) -> str:
    try:
        return (box.sb.state_dir / "run" / f"{name}.session-id").read_text(encoding="utf-8")
    except FileNotFoundError:  # between the breath and the new start
        return ""


def start_command(box: Box, name: str) -> str:
    proc = subprocess.run(["tmux", "-L", box.sb.socket, "display-message", "-p", "-t",
                           f"={name}:", "#{pane_start_command}"], capture_output=True,
                          text=True)  # fmt: skip
    return proc.stdout.strip()


def diary(box: Box, name: str) -> list[str]:
    data = json.loads(box.ttal("diary", "read", name, "--json", check=True).stdout)
    return [entry["text"] for entry in data["entries"]]


def conversation_of(fake: FakeAnthropic, route: str, session: str) -> list[Request]:
    """The main-loop requests of one Claude session (its id is in the request metadata)."""
    return [r for r in fake.of(route) if session in json.dumps(r.body.get("metadata") or {})]


def assert_fresh_start(box: Box, fake: FakeAnthropic, old_id: str, old_words: str) -> Request:
    """A new session id, launched without --resume, whose first request holds the briefing
    and the SessionStart context with the diary's tail, and nothing of the old turns."""
    new_id = wait(box, fake, lambda: session_id(box, "lead") != old_id and session_id(box, "lead"),
                  "a new session id")  # fmt: skip
    # The id is recorded just before the session starts.
    command = wait(box, fake, lambda: start_command(box, "lead"), "the new session")
    assert f"--session-id {new_id}" in command and "--resume" not in command, command
    first = wait(box, fake, lambda: conversation_of(fake, "lead", new_id), "the new conversation")
    request = first[0]
    users = [m for m in request.body["messages"] if m["role"] == "user"]
    assert len(users) == 1, users  # a conversation that starts here, not a resumed one
    briefing = request.last_user_text()
    assert "You are lead, a ttal manager" in briefing and "Your diary (newest last)" in briefing
    body = body_text(request)
    assert "# ttal: you are lead, a ttal manager" in body  # SessionStart: ttal context
    assert old_words not in body  # the old conversation is gone: only the diary carries over
    assert conversation_of(fake, "lead", old_id)  # (the old one was seen under its own id)
    return request


def test_claude_manager_breathes_from_inside(
    team: Box, fake: FakeAnthropic, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    fake.script("lead",
                Bash(f"while [ ! -e {release} ]; do sleep 0.1; done; echo 'old turn 7f3a'"),
                Bash("ttal diary append 'deploy freeze until friday'"),
                Bash("ttal breathe --note 'handoff: ship the api after the freeze'"),
                Say("breathing out"))  # fmt: skip
    fake.on("lead", "are we shipping?", Bash("ttal send --to human 'after friday'"), Say("ok"))
    team.ttal("up", "lead", check=True, timeout=60)
    wait(team, fake, lambda: status_of(team, "lead") == ("busy", "runtime"), "the first turn")
    old_id = session_id(team, "lead")
    sent = json.loads(team.ttal("send", "--to", "lead", "--json", "are we shipping?",
                                check=True).stdout)  # fmt: skip
    assert sent["status"] == "queued", sent  # busy: it waits

    release.touch()
    request = assert_fresh_start(team, fake, old_id, "old turn 7f3a")
    briefing = request.last_user_text()
    assert "deploy freeze until friday" in briefing
    assert "handoff: ship the api after the freeze" in briefing
    assert diary(team, "lead") == ["deploy freeze until friday",
                                   "handoff: ship the api after the freeze"]  # fmt: skip
    # The message sent before the breath reaches the new conversation, not the old one, and
    # the new Claude acts on it.
    new_id = session_id(team, "lead")
    wait(team, fake, lambda: any("are we shipping?" in r.last_user_text()
                                 for r in conversation_of(fake, "lead", new_id)),
         "the queued message in the new conversation")  # fmt: skip
    assert not any("are we shipping?" in body_text(r)
                   for r in conversation_of(fake, "lead", old_id))  # fmt: skip
    assert wait(team, fake, lambda: bodies(team, "human", "lead"), "the reply") == ["after friday"]
    assert by_hand.events(team, "breathe") == ["lead"]
    assert by_hand.events(team, "session-resumed") == []


def test_a_person_breathes_a_claude_manager(team: Box, fake: FakeAnthropic) -> None:
    fake.script("lead", Say("the plan: api first, old turn 5c1d"))
    team.ttal("up", "lead", check=True, timeout=60)
    wait(team, fake, lambda: status_of(team, "lead") == ("idle", "runtime"), "the first turn")
    old_id = session_id(team, "lead")
    team.ttal("diary", "append", "--agent", "lead", "api first, then the ui", check=True)

    proc = team.ttal("breathe", "lead", "--note", "handoff from a person", check=True, timeout=60)
    assert proc.stdout.strip() == "lead: started", proc.stdout
    request = assert_fresh_start(team, fake, old_id, "old turn 5c1d")
    assert "api first, then the ui" in request.last_user_text()
    assert "handoff from a person" in request.last_user_text()
    assert diary(team, "lead") == ["api first, then the ui", "handoff from a person"]
    assert by_hand.events(team, "breathe") == ["lead"]
