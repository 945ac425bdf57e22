"""The Codex adapter, end to end: the real `codex` program (scripts/install-codex) in ttal's
sessions on the sandbox's private tmux socket, its model replaced by a scripted Responses
API server (tests/fake_openai.py), so every turn it takes is known.

Codex is pointed at the server the way a user points it at any OpenAI-compatible endpoint,
through the runtime's `args:` and `env:` in ttal's config (a custom `model_providers` entry,
`OPENAI_API_KEY`) and a per-test `CODEX_HOME`. Everything else on its command line is what
ttal builds. Skipped, with the reason, when the program is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
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
from tests.fake_openai import FakeOpenAI, Say, Shell
from ttal.adapters.runtimes import codex_config
from ttal.adapters.runtimes.launch import RESUME_NOTE

ROOT = Path(__file__).resolve().parent.parent
CODEX = Path(os.environ.get("TTAL_TEST_CODEX") or ROOT / ".tools/codex/node_modules/.bin/codex")
VERSION = "codex-cli 0.171.0"
KEY = "sk-ttal-e2e-not-a-real-key"
INSTALL = "run scripts/install-codex (npm) or set TTAL_TEST_CODEX to a codex binary"
REAL_CODEX_HOME = Path.home() / ".codex"


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    return real_program(CODEX, "Codex", INSTALL, VERSION)


@pytest.fixture(autouse=True)
def _real_codex_home_untouched() -> Iterator[None]:
    def mtime() -> float:
        return REAL_CODEX_HOME.stat().st_mtime if REAL_CODEX_HOME.exists() else -1.0

    before = mtime()
    yield
    assert mtime() == before, f"a test touched the real {REAL_CODEX_HOME}"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def codex_home(tmp_path: Path) -> Path:
    """Codex's home for the test, holding the user's own config, which ttal must leave as
    it is."""
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text('model_reasoning_effort = "low"\n', encoding="utf-8")
    return home


@pytest.fixture
def team(
    make_box: Callable[..., Box], fake: FakeOpenAI, codex_bin: Path, codex_home: Path
) -> Iterator[Box]:
    """A sandbox whose worker, review lead and managers `lead` and `lead2` all run the real
    Codex, each on its own route of the fake server."""
    box = team_box(make_box, "codex", lambda r: runtime(codex_bin, fake.url(r), codex_home))
    # A short dir for the warm server's socket (a Unix socket path must stay under 108 bytes),
    # which ttal starts for the review leads' commands: their sandbox is read-only.
    box.env["TTAL_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="ttal-srv-", dir="/tmp")
    yield box
    control(box, "stop")
    shutil.rmtree(box.env["TTAL_RUNTIME_DIR"], ignore_errors=True)


def control(box: Box, verb: str) -> list[str]:
    """Ask every warm server of the box (one per interpreter path) for `status` or `stop`."""
    answers = []
    for path in Path(box.env["TTAL_RUNTIME_DIR"]).glob("ttal-*/server-*.sock"):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            try:
                sock.connect(str(path))
            except OSError:
                continue  # a server that has left
            payload = f"ctl:{verb}".encode()
            sock.sendall(len(payload).to_bytes(4, "big") + payload)
            answers.append(sock.recv(64).decode())
    return answers


def runtime(codex: Path, url: str, home: Path) -> dict[str, Any]:
    """A user's runtime entry for Codex against a custom OpenAI-compatible endpoint."""
    provider = (
        f'{{name="ttal fake", base_url="{url}", env_key="OPENAI_API_KEY", wire_api="responses"}}'
    )
    args = ["-m", "gpt-5-codex", "-c", "model_provider=ttal-fake",
            "-c", f"model_providers.ttal-fake={provider}",
            "-c", "analytics.enabled=false"]  # fmt: skip
    env = {"OPENAI_API_KEY": KEY, "CODEX_HOME": str(home)}
    return {"kind": "codex", "command": str(codex), "args": args, "env": env}


def session_id(box: Box, name: str) -> str:
    path = box.sb.state_dir / "run" / f"{name}.session-id"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_task_goes_from_pending_to_merged_with_codex(
    team: Box, fake: FakeOpenAI, codex_home: Path
) -> None:
    fake.script("worker",
                Shell("printf 'written by codex\\n' > codex.txt"),
                Shell("git add codex.txt && git commit -qm 'Add codex.txt'"),
                Shell("ttal go"))  # fmt: skip
    # The review lead runs in Codex's read-only sandbox; its `ttal` runs on ttal's server.
    fake.script("reviewer", Shell("git diff --stat main...HEAD"),
                Shell("echo note > review.txt; echo rc=$?; git stash -u; echo stash=$?"),
                Shell("ttal review approve --note ok"))  # fmt: skip
    task = merged_through_review(team, fake, "codex.txt", "written by codex\n")
    uuid = task["uuid"]
    worker, reviewer = fake.of("worker"), fake.of("reviewer")
    first = worker[0].text()
    assert f"You are a ttal worker on task {uuid[:8]}" in first  # the prompt, as the first turn
    assert f"# ttal: you are w-{uuid[:8]}, a ttal worker" in first  # SessionStart: ttal context
    assert "spawned review lead" in worker[3].tool_results()[-1]  # `ttal go` ran in Codex
    assert f"You are the ttal review lead for task {uuid[:8]}" in reviewer[0].text()
    assert "codex.txt | 1 +" in reviewer[1].tool_results()[-1]
    wrote = reviewer[2].tool_results()[-1]  # the sandbox, not the prompt, stopped the writes
    assert "review.txt: Read-only file system" in wrote and "rc=1" in wrote, wrote
    assert "stash=0" not in wrote, wrote
    assert "+lgtm (round 1)" in reviewer[3].tool_results()[-1]
    served = [int(answer.split()[2]) for answer in control(team, "status")]
    assert served and served[0] >= 1, served  # ttal's server ran the review lead's `ttal`
    # Codex's own session id, recorded by the SessionStart hook; its conversation is saved.
    recorded = session_id(team, f"w-{uuid[:8]}")
    assert recorded == worker[0].session_id, (recorded, worker[0].session_id)
    assert codex_config.rollout(recorded, {"CODEX_HOME": str(codex_home)}) is not None
    # ttal wrote nothing to the user's Codex config: its answers were -c flags.
    config = (codex_home / "config.toml").read_text()
    assert config.startswith('model_reasoning_effort = "low"\n'), config
    assert not {"trust_level", "hooks", "login_shell", "update"} & set(config.split()), config


def test_hooks_report_busy_and_idle_and_messages_arrive_as_turns(
    team: Box, fake: FakeOpenAI, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    fake.script("lead", Shell(f"while [ ! -e {release} ]; do sleep 0.1; done; echo released"))
    fake.on("lead", "what is the status?", Shell("ttal send --to human 'all green'"), Say("sent"))
    up = json.loads(team.ttal("up", "lead", "--json", timeout=60).stdout)
    assert up[0]["action"] == "started", up

    wait(team, fake, lambda: status_of(team, "lead") == ("busy", "runtime"), "busy (hook)")
    queued = json.loads(team.ttal("send", "--to", "lead", "--json", "hold on", check=True).stdout)
    assert queued["status"] == "queued", queued  # busy: the message waits for the turn's end
    release.touch()
    # Going idle (Stop hook) delivered the queued message: Codex read it as its next turn.
    wait(team, fake, lambda: any("hold on" in r.last_user_text() for r in fake.of("lead")),
         "the queued message as a user turn")  # fmt: skip
    wait(team, fake, lambda: status_of(team, "lead") == ("idle", "runtime"), "idle (Stop hook)")
    before = len(fake.of("lead"))

    result = json.loads(team.ttal("send", "--to", "lead", "--json", "what is the status?",
                                  check=True).stdout)  # fmt: skip
    assert result["status"] == "delivered", result
    wait(team, fake, lambda: len(fake.of("lead")) > before, "the next request")
    turn = fake.of("lead")[before].last_user_text()
    assert f"[ttal #{result['id']} from human]" in turn and "what is the status?" in turn
    # Its UserPromptSubmit hook acknowledged it (`ttal ack -` on the hook's JSON), and the
    # message that waited for the turn's end too: were this Codex to die now, neither would
    # be typed into the next one again.
    wait(team, fake, lambda: set(acked(team, "lead").values()) == {True}, "the acks")
    assert set(acked(team, "lead")) == {queued["id"], result["id"]}
    reply = wait(team, fake, lambda: bodies(team, "human", "lead"), "the manager's reply")
    assert reply == ["all green"]


def test_requested_changes_round_with_codex(team: Box, fake: FakeOpenAI) -> None:
    fake.script("worker",
                Shell("echo 'limit = 10' > limit.py && git add . && git commit -qm 'Add limit'"),
                Shell("ttal go"))  # fmt: skip
    fake.on("worker", "please add a test",
            Shell("echo 'assert limit' > test_limit.py && git add . && git commit -qm 'Test it'"),
            Shell("ttal go"))  # fmt: skip
    # The review lead's write fails in Codex's read-only sandbox; its verdict goes through.
    fake.script("reviewer", Shell("echo oops > stray.txt; echo rc=$?"),
                Shell("ttal review changes 'please add a test'"))  # fmt: skip
    fake.on("reviewer", "round 2 is ready", Shell("ttal review approve --note 'tested now'"))
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
    refused = fake.of("reviewer")[1].tool_results()[-1]
    assert "stray.txt: Read-only file system" in refused and "rc=1" in refused, refused
    assert "stray.txt" not in team.git("api", "ls-tree", "--name-only", "main").split()


def test_killing_the_review_lead_after_its_approval_leaves_the_merge_running(
    team: Box, fake: FakeOpenAI, tmp_path: Path
) -> None:
    # The merge, started by the approval, stops where it moves main until `release` exists.
    waiting, release = tmp_path / "merge-waiting", tmp_path / "release"
    hook = team.sb.repos["api"] / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f"""#!/bin/sh
[ "$1" = prepared ] || exit 0
grep -q ' refs/heads/main$' || exit 0
touch {waiting}
for i in $(seq 600); do [ -e {release} ] && exit 0; sleep 0.1; done
""")  # fmt: skip
    hook.chmod(0o755)
    fake.script("worker", Shell("echo 'y = 2' > y.py && git add . && git commit -qm 'Add y'"),
                Shell("ttal go"))  # fmt: skip
    fake.script("reviewer", Shell("ttal review approve --note ok"), Say("approved"))
    uuid = team.add("Merge without me", "project:api")
    team.ttal("go", uuid, check=True)
    reviewer = f"r-{uuid[:8]}-implement"
    wait(team, fake, waiting.exists, "the merge, in flight")

    subprocess.run(["tmux", "-L", team.sb.socket, "kill-session", "-t", f"={reviewer}"],
                   check=True)  # fmt: skip  # the review lead's Codex, and its sandbox, end
    assert reviewer not in team.sessions() and team.get(uuid)["status"] == "pending"
    release.touch()
    wait(team, fake, lambda: team.get(uuid)["status"] == "completed", "the merge")
    assert "merged" in team.get(uuid)["tags"]
    assert team.git("api", "show", "main:y.py") == "y = 2\n"
    assert "+lgtm (round 1)" in fake.of("reviewer")[1].tool_results()[-1]


def test_killed_worker_resumes_its_conversation_and_finishes(team: Box, fake: FakeOpenAI) -> None:
    fake.script("worker", Say("first I read the code"))
    commit = Shell("echo 'x = 1' > x.py && git add . && git commit -qm 'Add x'")
    fake.on("worker", RESUME_NOTE, commit, Shell("ttal go"))
    fake.script("reviewer", Shell("ttal review approve --note ok"))
    uuid = team.add("Survive a crash", "project:api")
    team.ttal("go", uuid, check=True)
    name = f"w-{uuid[:8]}"
    wait(team, fake, lambda: status_of(team, name) == ("idle", "runtime"), "the first turn")
    first_id = session_id(team, name)
    assert first_id == fake.of("worker")[0].session_id  # Codex's id, from its hook
    subprocess.run(["tmux", "-L", team.sb.socket, "kill-session", "-t", f"={name}"], check=True)

    assert "worker session was gone" in team.ttal("go", uuid, check=True).stdout
    wait(team, fake, lambda: team.get(uuid)["status"] == "completed", "the merge")
    resumed = next(r for r in fake.of("worker") if RESUME_NOTE in r.last_user_text())
    assert resumed.session_id == first_id  # `codex resume <id>`: the same conversation
    assert "first I read the code" in resumed.text()
    assert by_hand.events(team, "session-resumed", uuid) == [f"{name} {first_id}"]
    assert team.git("api", "show", "main:x.py") == "x = 1\n"


def test_fork_copies_a_managers_conversation(team: Box, fake: FakeOpenAI) -> None:
    fake.script("lead", Say("the plan is to split the api"))
    team.ttal("up", "lead", check=True, timeout=60)
    wait(team, fake, lambda: status_of(team, "lead") == ("idle", "runtime"), "lead's first turn")
    lead_id = session_id(team, "lead")
    assert lead_id == fake.of("lead")[0].session_id

    team.ttal("fork", "lead", "--as", "lead2", "--json", check=True, timeout=60)
    wait(team, fake, lambda: fake.of("lead2"), "the fork's first request")
    first = fake.of("lead2")[0]
    assert "the plan is to split the api" in first.text()  # lead's conversation, copied
    assert "You are lead2 now: this conversation was forked from lead's" in first.last_user_text()
    assert first.session_id != lead_id  # Codex gave the fork an id of its own ...
    wait(team, fake, lambda: session_id(team, "lead2") == first.session_id, "the fork's id")
    assert session_id(team, "lead") == lead_id  # ... and lead goes on with its own
    assert {"lead", "lead2"} <= set(team.sessions())
