"""The Claude Code adapter, end to end: the real `claude` program (scripts/install-claude) in
ttal's sessions on the sandbox's private tmux socket, its model replaced by a scripted server
(tests/fake_anthropic.py), so every turn it takes is known.

Each agent has its own route on the server: `worker`, `reviewer` and `lead`. What Claude Code
sends back (tool results, hook output, messages typed into its pane) is asserted on the
recorded requests. Skipped, with the reason, when the program is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.conftest import Box
from tests.e2e_helpers import (
    acked,
    bodies,
    merged_through_review,
    real_program,
    status_of,
    team_box,
    wait,
)
from tests.fake_anthropic import Bash, FakeAnthropic, Say
from ttal.adapters.runtimes.launch import RESUME_NOTE

ROOT = Path(__file__).resolve().parent.parent
CLAUDE = Path(os.environ.get("TTAL_TEST_CLAUDE") or ROOT / ".tools/node_modules/.bin/claude")
VERSION = "2.1.328"
# Claude Code records the last 20 characters of an approved key.
KEY = "sk-ant-api03-ttal-e2e-not-a-real-key-" + "0123456789abcdefghij"


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    install = "run scripts/install-claude (npm) or set TTAL_TEST_CLAUDE to a claude binary"
    return real_program(CLAUDE, "Claude Code", install, VERSION)


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def team(make_box: Callable[..., Box], fake: FakeAnthropic, claude_bin: Path) -> Box:
    """A sandbox whose worker, review lead and managers `lead` and `lead2` all run the real
    Claude Code."""
    box = team_box(make_box, "claude", lambda route: runtime(claude_bin, fake.url(route)))
    # A user's own Claude config, which ttal must extend and never clobber.
    home = Path(os.environ["HOME"])
    mine = {"theme": "light", "numStartups": 7, "projects": {"/src/mine": {"allowedTools": ["x"]}}}
    (home / ".claude.json").write_text(json.dumps(mine), encoding="utf-8")
    return box


def runtime(claude: Path, url: str) -> dict[str, Any]:
    env = {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": KEY, "IS_SANDBOX": "1",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}  # fmt: skip
    return {"kind": "claude", "command": str(claude), "env": env}


def body_text(request: Any) -> str:
    return json.dumps(request.body)


def agent_state(box: Box, name: str) -> str:
    rows = json.loads(box.ttal("agents", "--json", check=True).stdout)
    return str(next((r["state"] for r in rows if r["agent"] == name), "absent"))


def claude_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(os.environ["HOME"]) / ".claude.json").read_text())
    return data


def test_task_goes_from_pending_to_merged_with_claude(team: Box, fake: FakeAnthropic) -> None:
    fake.script("worker",
                Bash("printf 'written by claude\\n' > claude.txt"),
                Bash("git add claude.txt && git commit -qm 'Add claude.txt'"),
                Bash("ttal go"))  # fmt: skip
    fake.script(
        "reviewer", Bash("git diff --stat main...HEAD"), Bash("ttal review approve --note ok")
    )
    task = merged_through_review(team, fake, "claude.txt", "written by claude\n")
    uuid = task["uuid"]
    worker, reviewer = fake.of("worker"), fake.of("reviewer")
    first = body_text(worker[0])
    assert f"You are a ttal worker on task {uuid[:8]}" in first  # the prompt, as the first turn
    assert f"# ttal: you are w-{uuid[:8]}, a ttal worker" in first  # SessionStart: ttal context
    assert "spawned review lead" in worker[3].tool_results()[-1]  # `ttal go` ran in Claude
    assert f"You are the ttal review lead for task {uuid[:8]}" in body_text(reviewer[0])
    assert "claude.txt | 1 +" in reviewer[1].tool_results()[-1]
    assert task["ttal_session_id"] in {p.stem for p in Path(os.environ["HOME"]).glob(
        ".claude/projects/*/*.jsonl")}  # fmt: skip

    config = claude_json()
    assert config["theme"] == "light"  # the user's own keys are kept
    assert config["projects"]["/src/mine"] == {"allowedTools": ["x"]}
    assert config["projects"][task["ttal_worktree"]]["hasTrustDialogAccepted"] is True
    assert KEY[-20:] in config["customApiKeyResponses"]["approved"]
    assert config["hasCompletedOnboarding"] is True


def test_hooks_report_busy_during_a_turn_and_idle_after(
    team: Box, fake: FakeAnthropic, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    fake.script("lead", Bash(f"while [ ! -e {release} ]; do sleep 0.1; done; echo released"))
    up = json.loads(team.ttal("up", "lead", "--json", timeout=60).stdout)
    assert up[0]["action"] == "started", up

    wait(team, fake, lambda: status_of(team, "lead") == ("busy", "runtime"), "busy (hook)")
    assert agent_state(team, "lead") == "busy"
    queued = json.loads(team.ttal("send", "--to", "lead", "--json", "hold on", check=True).stdout)
    assert queued["status"] == "queued", queued  # busy: the message waits for the turn's end

    release.touch()
    wait(team, fake, lambda: status_of(team, "lead") == ("idle", "runtime"), "idle (Stop hook)")
    # Going idle delivered the queued message: Claude read it as its next user turn.
    wait(team, fake, lambda: any("hold on" in r.last_user_text() for r in fake.of("lead")),
         "the queued message as a user turn")  # fmt: skip
    wait(team, fake, lambda: agent_state(team, "lead") == "idle", "idle in ttal agents")


def test_send_reaches_a_claude_manager_as_a_user_turn(team: Box, fake: FakeAnthropic) -> None:
    fake.on("lead", "what is the status?", Bash("ttal send --to human 'all green'"), Say("sent"))
    up = json.loads(team.ttal("up", "lead", "--json", timeout=60).stdout)
    assert up[0]["action"] == "started", up
    wait(team, fake, lambda: status_of(team, "lead") == ("idle", "runtime"), "lead's first turn")
    before = len(fake.of("lead"))

    result = json.loads(team.ttal("send", "--to", "lead", "--json", "what is the status?",
                                  check=True).stdout)  # fmt: skip
    assert result["status"] == "delivered", result
    wait(team, fake, lambda: len(fake.of("lead")) > before, "the next request")
    turn = fake.of("lead")[before].last_user_text()
    assert f"[ttal #{result['id']} from human]" in turn and "what is the status?" in turn
    assert '[reply with: ttal send --to human "..."]' in turn
    # Its UserPromptSubmit hook acknowledged it (`ttal ack -` on the hook's JSON): were this
    # Claude to die now, the message would not be typed into the next one again.
    wait(team, fake, lambda: acked(team, "lead") == {result["id"]: True}, "the ack")
    reply = wait(team, fake, lambda: bodies(team, "human", "lead"), "the manager's reply")
    assert reply == ["all green"]


def test_requested_changes_round_with_claude(team: Box, fake: FakeAnthropic) -> None:
    fake.script("worker",
                Bash("echo 'limit = 10' > limit.py && git add . && git commit -qm 'Add limit'"),
                Bash("ttal go"))  # fmt: skip
    fake.on("worker", "please add a test",
            Bash("echo 'assert limit' > test_limit.py && git add . && git commit -qm 'Test it'"),
            Bash("ttal go"))  # fmt: skip
    fake.script("reviewer", Bash("ttal review changes 'please add a test'"))
    fake.on("reviewer", "round 2 is ready", Bash("ttal review approve --note 'tested now'"))
    uuid = team.add("Add a limit", "project:api")
    team.ttal("go", uuid, check=True)
    wait(team, fake, lambda: team.get(uuid)["status"] == "completed", "the merge")

    task = team.get(uuid)
    assert task["ttal_round"] == 2 and "merged" in task["tags"]
    assert (fake.pending("worker"), fake.pending("reviewer")) == (0, 0)
    assert {"limit.py", "test_limit.py"} <= set(team.git("api", "ls-tree", "--name-only",
                                                         "main").split())  # fmt: skip
    asked = [r for r in fake.of("worker") if "please add a test" in r.last_user_text()]
    assert asked and "review changes requested by" in asked[0].last_user_text()


def test_killed_manager_resumes_its_conversation(team: Box, fake: FakeAnthropic) -> None:
    fake.script("lead", Say("remember the number 42"))
    team.ttal("up", "lead", check=True, timeout=60)
    wait(team, fake, lambda: status_of(team, "lead") == ("idle", "runtime"), "the first turn")
    first_id = (team.sb.state_dir / "run" / "lead.session-id").read_text()
    subprocess.run(["tmux", "-L", team.sb.socket, "kill-session", "-t", "=lead"], check=True)

    team.ttal("up", "lead", check=True, timeout=60)
    wait(team, fake, lambda: any(RESUME_NOTE in r.last_user_text() for r in fake.of("lead")),
         "the resumed session's first turn")  # fmt: skip
    resumed = next(r for r in fake.of("lead") if RESUME_NOTE in r.last_user_text())
    assert "remember the number 42" in body_text(resumed)  # the old conversation goes on
    assert (team.sb.state_dir / "run" / "lead.session-id").read_text() == first_id
    assert by_hand.events(team, "session-resumed") == [f"lead {first_id}"]


def test_killed_worker_resumes_and_finishes(team: Box, fake: FakeAnthropic) -> None:
    fake.script("worker", Say("first I read the code"))
    commit = Bash("echo 'x = 1' > x.py && git add . && git commit -qm 'Add x'")
    fake.on("worker", RESUME_NOTE, commit, Bash("ttal go"))
    fake.script("reviewer", Bash("ttal review approve --note ok"))
    uuid = team.add("Survive a crash", "project:api")
    team.ttal("go", uuid, check=True)
    name = f"w-{uuid[:8]}"
    wait(team, fake, lambda: status_of(team, name) == ("idle", "runtime"), "the first turn")
    first_id = team.get(uuid)["ttal_session_id"]
    subprocess.run(["tmux", "-L", team.sb.socket, "kill-session", "-t", f"={name}"], check=True)

    assert "worker session was gone" in team.ttal("go", uuid, check=True).stdout
    wait(team, fake, lambda: team.get(uuid)["status"] == "completed", "the merge")
    assert team.get(uuid)["ttal_session_id"] == first_id  # the same conversation went on
    resumed = next(r for r in fake.of("worker") if RESUME_NOTE in r.last_user_text())
    assert "first I read the code" in body_text(resumed)
    assert team.git("api", "show", "main:x.py") == "x = 1\n"


def test_fork_copies_a_managers_conversation(team: Box, fake: FakeAnthropic) -> None:
    fake.script("lead", Say("the plan is to split the api"))
    team.ttal("up", "lead", check=True, timeout=60)
    wait(team, fake, lambda: status_of(team, "lead") == ("idle", "runtime"), "lead's first turn")

    result = json.loads(team.ttal("fork", "lead", "--as", "lead2", "--json", check=True,
                                  timeout=60).stdout)  # fmt: skip
    wait(team, fake, lambda: fake.of("lead2"), "the fork's first request")
    first = fake.of("lead2")[0]
    assert "the plan is to split the api" in body_text(first)  # lead's conversation, copied
    assert "You are lead2 now: this conversation was forked from lead's" in first.last_user_text()
    lead_id = (team.sb.state_dir / "run" / "lead.session-id").read_text()
    assert result["session_id"] != lead_id
    assert (team.sb.state_dir / "run" / "lead2.session-id").read_text() == result["session_id"]
    assert {"lead", "lead2"} <= set(team.sessions())  # lead goes on
    again = team.ttal("fork", "lead", "--as", "lead2")
    assert again.returncode == 12 and "already up" in again.stderr


def test_a_permission_dialog_reports_waiting_and_holds_messages(
    team: Box, fake: FakeAnthropic, tmp_path: Path
) -> None:
    """Claude Code's Notification hook: a dialog that waits for a person makes the agent
    "waiting"; messages queue, since typed into the dialog they would answer it."""
    asked = tmp_path / "asked.txt"
    settings = Path(os.environ["HOME"]) / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)  # the user's own rule: ask first
    settings.write_text(json.dumps({"permissions": {"ask": ["Bash(touch:*)"]}}), encoding="utf-8")
    fake.script("lead", Bash(f"touch {asked}"), Say("touched"))
    fake.on("lead", "are you there?", Say("yes"))
    team.ttal("up", "lead", check=True, timeout=60)

    wait(team, fake, lambda: status_of(team, "lead") == ("waiting", "runtime"), "waiting (hook)")
    assert agent_state(team, "lead") == "waiting"
    assert "waiting" in team.ttal("agents", check=True).stdout
    sent = json.loads(team.ttal("send", "--to", "lead", "--json", "are you there?",
                                check=True).stdout)  # fmt: skip
    assert sent["status"] == "queued", sent  # not typed into the dialog
    assert not asked.exists()  # the dialog still waits for its answer

    # A person answers the dialog: "1. Yes".
    subprocess.run(["tmux", "-L", team.sb.socket, "send-keys", "-t", "=lead:", "1"], check=True)
    wait(team, fake, asked.exists, "the approved command")
    wait(team, fake, lambda: status_of(team, "lead") == ("idle", "runtime"), "idle (Stop hook)")
    wait(team, fake, lambda: any("are you there?" in r.last_user_text() for r in fake.of("lead")),
         "the queued message as a user turn")  # fmt: skip
    wait(team, fake, lambda: acked(team, "lead") == {sent["id"]: True}, "the ack")
    assert "touched" in body_text(fake.of("lead")[-1])  # one conversation went on throughout


def test_a_review_lead_that_writes_with_bash_cannot_approve(team: Box, fake: FakeAnthropic) -> None:
    """Review leads lose Claude's edit tools, but Bash still writes: the approval of a
    worktree that changed during the round is refused, and what was written is kept."""
    commit = "echo 'limit = 10' > limit.py && git add . && git commit -qm 'Add limit'"
    fake.script("worker", Bash(commit), Bash("ttal go"))
    fake.script("reviewer", Bash("echo 'limit = 20' > limit.py"),
                Bash("ttal review approve --note 'fixed it myself'"), Say("refused"))  # fmt: skip
    uuid = team.add("Add a limit", "project:api")
    team.ttal("go", uuid, check=True)
    wait(team, fake, lambda: fake.pending("reviewer") == 0 and len(fake.of("reviewer")) >= 3,
         "the review lead's turns")  # fmt: skip

    refusal = fake.of("reviewer")[2].tool_results()[-1]
    assert "Exit code 17" in refusal and "approve refused" in refusal, refusal
    assert "limit.py" in refusal and "a review lead is read-only" in refusal
    task = team.get(uuid)
    assert "lgtm" not in task["tags"] and task["ttal_review"].startswith("reviewing:")
    worktree = Path(task["ttal_worktree"])
    assert (worktree / "limit.py").read_text() == "limit = 20\n"  # kept, not reverted
    assert team.git("api", "show", f"{task['ttal_branch']}:limit.py") == "limit = 10\n"
    assert task["status"] == "pending"
    assert "limit.py" not in team.git("api", "ls-tree", "--name-only", "main")  # nothing merged
