"""The Claude Code adapter without the program: its command lines, the answers merged into
~/.claude.json (under Claude's own lock), the hooks it is given, `env:` in a runtime, and
`ttal context`, which its SessionStart hook prints."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import by_hand
from tests.conftest import Box
from ttal.adapters.runtimes import claude_config, launch
from ttal.adapters.runtimes.launch import RESUME_NOTE, LaunchSpec
from ttal.config.model import Runtime
from ttal.config.parse import parse_config
from ttal.errors import ConfigError, ExternalError

KEY = "sk-ant-api03-" + "k" * 30 + "0123456789abcdefghij"
CLAUDE = Runtime("claude", "claude", "claude", ("--model", "opus"))


def spec(tmp_path: Path, read_only: bool = False, prompt: str = "do it") -> LaunchSpec:
    return LaunchSpec(prompt, tmp_path / "p.md", tmp_path, read_only, "id-1", None,
                      tmp_path / "s.json")  # fmt: skip


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), "ANTHROPIC_API_KEY": KEY, "IS_SANDBOX": "1", **extra}


@pytest.mark.parametrize(
    ("read_only", "tail"),
    [
        pytest.param(False, ["--dangerously-skip-permissions", "--", "do it"], id="worker"),
        pytest.param(True, ["--dangerously-skip-permissions", "--disallowedTools",
                            "Edit Write NotebookEdit", "--", "do it"], id="review-lead"),
    ],
)  # fmt: skip
def test_launch_line(tmp_path: Path, read_only: bool, tail: list[str]) -> None:
    argv = launch.launch_argv(CLAUDE, spec(tmp_path, read_only))
    head = ["claude", "--model", "opus", "--settings", str(tmp_path / "s.json")]
    assert argv == [*head, "--session-id", "id-1", *tail]
    assert "--bare" not in argv  # it would skip the hooks


def test_resume_and_fork_lines(tmp_path: Path) -> None:
    head = ["claude", "--model", "opus", "--settings", str(tmp_path / "s.json")]
    resume = launch.resume_argv(CLAUDE, spec(tmp_path))
    assert resume == [*head, "--resume", "id-1", "--dangerously-skip-permissions", "--",
                      RESUME_NOTE]  # fmt: skip
    fork = launch.fork_argv(CLAUDE, spec(tmp_path, prompt="you are the fork"), "id-2")
    assert fork == [*head, "--resume", "id-1", "--fork-session", "--session-id", "id-2",
                    "--dangerously-skip-permissions", "--", "you are the fork"]  # fmt: skip


def test_resume_only_a_saved_conversation(tmp_path: Path) -> None:
    assert not launch.can_resume(CLAUDE, "id-1", env(tmp_path))
    saved = tmp_path / ".claude" / "projects" / "-some-dir" / "id-1.jsonl"
    saved.parent.mkdir(parents=True)
    saved.write_text("{}\n")
    assert launch.can_resume(CLAUDE, "id-1", env(tmp_path))
    assert not launch.can_resume(CLAUDE, "", env(tmp_path))
    assert not launch.can_resume(Runtime("codex", "codex", "codex"), "id-1", env(tmp_path))
    moved = env(tmp_path, CLAUDE_CONFIG_DIR=str(tmp_path / "elsewhere"))
    assert not launch.can_resume(CLAUDE, "id-1", moved)


def test_prepare_writes_hooks_and_answers(tmp_path: Path) -> None:
    launch_spec = spec(tmp_path)
    launch.prepare(CLAUDE, launch_spec, env(tmp_path))
    settings = json.loads((tmp_path / "s.json").read_text())
    assert settings["skipDangerousModePermissionPrompt"] is True
    hooks = {event: [(e.get("matcher", ""), e["hooks"][0]["command"]) for e in entries]
             for event, entries in settings["hooks"].items()}  # fmt: skip
    ttal = shlex.join([sys.executable, "-m", "ttal"])
    assert hooks == {
        "SessionStart": [("", f"{ttal} context || exit 1")],
        "UserPromptSubmit": [("", f"{ttal} report busy || exit 1"),
                             ("", f"{ttal} ack - || exit 1")],
        "Stop": [("", f"{ttal} report idle || exit 1")],
        "Notification": [("permission_prompt|elicitation_dialog|elicitation_url_dialog",
                          f"{ttal} report waiting || exit 1")],
    }  # fmt: skip
    data = json.loads((tmp_path / ".claude.json").read_text())
    assert data["projects"][str(tmp_path)] == {"hasTrustDialogAccepted": True}
    assert data["customApiKeyResponses"] == {"rejected": [], "approved": [KEY[-20:]]}
    assert oct((tmp_path / ".claude.json").stat().st_mode & 0o777) == oct(0o600)


def test_prepare_refuses_root_without_is_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(ConfigError, match="IS_SANDBOX"):
        launch.prepare(CLAUDE, spec(tmp_path), {"HOME": str(tmp_path)})
    assert not (tmp_path / ".claude.json").exists() and not (tmp_path / "s.json").exists()


def test_merge_keeps_every_other_key_and_is_idempotent() -> None:
    trusted_no = {"allowedTools": ["Bash"], "hasTrustDialogAccepted": False}
    mine = {"theme": "light", "oauthAccount": {"id": 1}, "projects": {"/a": trusted_no},
            "customApiKeyResponses": {"approved": ["old"], "rejected": ["bad"]}}  # fmt: skip
    once = claude_config.merge(mine, ["/a", "/b"], KEY)
    assert once == {
        "theme": "light", "oauthAccount": {"id": 1}, "hasCompletedOnboarding": True,
        "customApiKeyResponses": {"approved": ["old", KEY[-20:]], "rejected": ["bad"]},
        "projects": {"/a": {"allowedTools": ["Bash"], "hasTrustDialogAccepted": True},
                     "/b": {"hasTrustDialogAccepted": True}},
    }  # fmt: skip
    assert claude_config.merge(once, ["/a", "/b"], KEY) == once
    assert "customApiKeyResponses" not in claude_config.merge({}, ["/a"], "")  # no key: none


def test_merge_waits_for_claudes_lock(tmp_path: Path) -> None:
    lock = tmp_path / ".claude.json.lock"
    lock.mkdir()  # as Claude Code holds it while it saves its config

    def claude_saves() -> None:
        time.sleep(0.5)
        (tmp_path / ".claude.json").write_text(json.dumps({"numStartups": 3}))
        lock.rmdir()

    saver = threading.Thread(target=claude_saves)
    saver.start()
    claude_config.prepare(tmp_path, env(tmp_path))
    saver.join()
    data = json.loads((tmp_path / ".claude.json").read_text())
    assert data["numStartups"] == 3 and data["hasCompletedOnboarding"] is True
    assert not lock.exists()


def test_a_stale_lock_is_taken(tmp_path: Path) -> None:
    lock = tmp_path / ".claude.json.lock"
    lock.mkdir()
    old = time.time() - 60
    os.utime(lock, (old, old))  # left by a Claude Code that crashed
    claude_config.prepare(tmp_path, env(tmp_path))
    assert json.loads((tmp_path / ".claude.json").read_text())["hasCompletedOnboarding"]


def test_broken_config_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".claude.json").write_text("{not json")
    with pytest.raises(ExternalError, match="left it unchanged"):
        claude_config.prepare(tmp_path, env(tmp_path))
    assert (tmp_path / ".claude.json").read_text() == "{not json"
    assert not (tmp_path / ".claude.json.lock").exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("{TTAL_AGENT: x}", "not a variable ttal may set", id="identity"),
        pytest.param("{'A B': x}", "not a variable ttal may set", id="bad-name"),
        pytest.param("{X: true}", "expected text", id="bool"),
        pytest.param("{X: [1]}", "expected text", id="list"),
        pytest.param("[X]", "expected a mapping", id="not-a-mapping"),
    ],
)
def test_runtime_env_refusals(tmp_path: Path, body: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_config(f"runtimes:\n  c: {{kind: claude, env: {body}}}\n", tmp_path / "t.yaml")


def test_runtime_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-secret")
    text = "runtimes:\n  c: {kind: claude, env: {IS_SANDBOX: 1, ANTHROPIC_API_KEY: '${MY_KEY}'}}\n"
    cfg = parse_config(text, tmp_path / "t.yaml")
    assert cfg.runtimes["c"].env == {"IS_SANDBOX": "1", "ANTHROPIC_API_KEY": "sk-secret"}


def test_context_says_who_and_what(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    person = box.ttal("context", check=True).stdout
    assert "this is a person's shell" in person
    uuid = box.add("Add a cache", "project:api")
    box.ttal("go", uuid, check=True)
    name = f"w-{uuid[:8]}"
    subprocess.run(["tmux", "-L", box.sb.socket, "kill-session", "-t", f"={name}"], check=True)
    sent = box.ttal("send", "--to", name, "--json", "the cache must expire\nsecond line")
    assert json.loads(sent.stdout)["status"] == "queued", sent.stdout  # offline: it waits

    text = box.ttal("context", env=by_hand.worker_env(uuid), check=True).stdout
    assert text.splitlines()[:2] == [f"# ttal: you are {name}, a ttal worker",
                                     f"Task {uuid[:8]}: Add a cache"]  # fmt: skip
    assert "project api; stage implement" in text and "#1 from human: the cache must expire" in text
    assert "second line" not in text and "Next: when done: commit, then `ttal go`" in text
    assert "  pipeline: finish stage implement" in text  # what the pipeline expects of it
    data = json.loads(box.ttal("context", "--json", env=by_hand.worker_env(uuid)).stdout)
    assert (data["task"]["branch"], len(data["queued"])) == (f"ttal/{uuid[:8]}-add-a-cache", 1)


def test_context_lists_a_managers_active_tasks(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    lead = {"TTAL_AGENT": "lead", "TTAL_ROLE": "manager"}
    mine = box.add("Add a cache", "project:api")
    other = box.add("Not mine", "project:api")
    box.ttal("go", mine, env=lead, check=True)  # spawned by lead
    box.ttal("go", other, check=True)  # spawned by a person
    text = box.ttal("context", env=lead, check=True).stdout
    assert "Your active tasks (1;" in text, text
    assert f"  {mine[:8]} Add a cache: the worker is on stage implement" in text
    assert "Not mine" not in text
    data = json.loads(box.ttal("context", "--json", env=lead, check=True).stdout)
    assert [(t["uuid"], t["stage"]) for t in data["tasks"]] == [(mine, "implement")]


def test_fork_refusals(make_box: Callable[..., Box], tmp_path: Path) -> None:
    script = tmp_path / "idle.yaml"
    script.write_text(by_hand.IDLE, encoding="utf-8")
    agents = "\n".join(f"{n}: {{role: manager, runtime: scripted-worker}}" for n in ("m1", "m2"))
    box = make_box(worker_script=script, reviewer_script=script, agents_yaml=agents)

    def refused(*args: str) -> tuple[int, str]:
        proc = box.ttal("fork", *args)
        return proc.returncode, proc.stderr

    assert refused("m1", "--as", "m1")[0] == 2
    assert refused("coder", "--as", "m2")[0] == 2  # a worker is not a persistent agent
    assert refused("m1", "--as", "nobody")[0] == 11
    code, err = refused("m1", "--as", "m2")
    assert code == 12 and "m1 has no session to fork" in err
    box.ttal("up", "m1", check=True)
    code, err = refused("m1", "--as", "m2")  # a scripted agent saves no conversation
    assert code == 12 and "no saved conversation" in err and "m2" not in box.sessions()
    assert by_hand.rows(box, "SELECT state FROM agent_status WHERE agent = 'm2'") == []
    box.ttal("up", "m2", check=True)
    code, err = refused("m1", "--as", "m2")
    assert code == 12 and "m2 is already up" in err
