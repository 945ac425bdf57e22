"""Every Codex command line ttal builds, put through the real `codex` binary's own parser.

Codex (clap) exits 2 with "error: ..." on an argument it does not take, and loads its
config, `-c` overrides included, before it looks for a terminal: a line that gets as far as
"stdin is not a terminal" was accepted whole. `--strict-config` (passed as the runtime's
`args:`, as a user could) makes an unknown config key an error too. Each check is paired
with a line that must be rejected, so it can fail. Skipped, with the reason, when the
program is not installed.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import Box
from tests.e2e_helpers import real_program
from tests.mesh_helpers import recorder_box, send, sent
from tests.test_codex_e2e import CODEX, INSTALL, VERSION
from ttal.adapters.runtimes import codex_config
from ttal.adapters.runtimes.launch import (
    RESUME_NOTE,
    LaunchSpec,
    fork_argv,
    launch_argv,
    resume_argv,
)
from ttal.config.model import Runtime

ACCEPTED = "stdin is not a terminal"
CODEX_ID = "01a22013-f47a-7593-bbc1-21f0c01374d7"  # Codex's ids are UUIDv7
# What Codex 0.171.0 passed to a UserPromptSubmit hook on stdin (the prompt left out).
CODEX_PROMPT_EVENT = {
    "session_id": CODEX_ID, "turn_id": "01a22064-1247-7ee0-8a02-19e60e62ff83",
    "transcript_path": f"/c/sessions/2026/11/28/rollout-2026-11-28T04-22-38-{CODEX_ID}.jsonl",
    "cwd": "/tmp/wd", "hook_event_name": "UserPromptSubmit", "model": "gpt-5-codex",
    "permission_mode": "bypassPermissions",
}  # fmt: skip
ODD_DIR = "wt.v2 'quoted' \"dq\" \\ ünï\tx"  # spaces, dots, quotes, backslash, unicode, tab


@pytest.fixture(scope="module")
def codex_bin() -> Path:
    return real_program(CODEX, "Codex", INSTALL, VERSION)


def parse(argv: list[str], tmp_path: Path) -> tuple[int, str]:
    """Run `argv` with no terminal, in a home of its own; its exit code and stderr."""
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "CODEX_HOME": str(home / ".codex")}  # fmt: skip
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    return proc.returncode, proc.stderr


def accepted(argv: list[str], tmp_path: Path) -> None:
    code, err = parse(argv, tmp_path)
    assert code == 1 and ACCEPTED in err, f"codex rejected {argv}: exit {code}\n{err}"


def spec(tmp_path: Path, read_only: bool = False, prompt: str = "Do the task") -> LaunchSpec:
    workdir = tmp_path / ODD_DIR
    workdir.mkdir(exist_ok=True)
    return LaunchSpec(prompt=prompt, prompt_file=tmp_path / "p.md", workdir=workdir,
                      read_only=read_only, session_id=CODEX_ID,
                      session_id_file=tmp_path / "w-1.session-id")  # fmt: skip


def runtime(codex: Path, *args: str) -> Runtime:
    return Runtime(name="codex", kind="codex", command=str(codex), args=("--strict-config", *args))


LINES = {
    "worker": lambda rt, tmp: launch_argv(rt, spec(tmp)),
    "review lead": lambda rt, tmp: launch_argv(rt, spec(tmp, read_only=True)),
    "prompt with a leading dash": lambda rt, tmp: launch_argv(rt, spec(tmp, prompt="-x --y")),
    "resume": lambda rt, tmp: resume_argv(rt, spec(tmp)),
    "fork": lambda rt, tmp: fork_argv(rt, spec(tmp), "ignored: codex picks the fork's id"),
    "fork without a prompt": lambda rt, tmp: fork_argv(rt, spec(tmp, prompt=""), "x"),
}


@pytest.mark.parametrize("kind", LINES, ids=list(LINES))
def test_codex_accepts_the_line(kind: str, codex_bin: Path, tmp_path: Path) -> None:
    argv = LINES[kind](runtime(codex_bin, "-m", "gpt-5-codex"), tmp_path)
    accepted(argv, tmp_path)
    # The same line with one flag Codex does not have must be refused by the same check.
    bad = [argv[0], "--no-such-flag", *argv[1:]]
    code, err = parse(bad, tmp_path)
    assert code == 2 and "error: unexpected argument '--no-such-flag'" in err, err


@pytest.mark.parametrize(
    "override, error",
    [("no_such_key=1", "unknown configuration field `no_such_key`"),
     ("hide_agent_reasoning=maybe", 'invalid type: string "maybe", expected a boolean')],
    ids=["unknown key", "wrong type"],
)  # fmt: skip
def test_a_bad_override_is_refused(
    override: str, error: str, codex_bin: Path, tmp_path: Path
) -> None:
    argv = launch_argv(runtime(codex_bin, "-c", override), spec(tmp_path))
    code, err = parse(argv, tmp_path)
    assert code == 1 and ACCEPTED not in err and error in err, err


def test_the_lines_carry_what_ttal_relies_on(tmp_path: Path) -> None:
    rt = runtime(Path("codex"))
    worker = launch_argv(rt, spec(tmp_path))
    assert worker[:2] == ["codex", "--strict-config"] and worker[-2:] == ["--", "Do the task"]
    for flag in ("--no-daemon", "--dangerously-bypass-hook-trust"):
        assert flag in worker
    assert worker[worker.index("--enable") + 1] == "hooks"
    assert worker[worker.index("--sandbox") + 1] == "danger-full-access"
    assert worker[worker.index("--ask-for-approval") + 1] == "never"
    assert worker[worker.index("--cd") + 1] == str(tmp_path / ODD_DIR)
    # A review lead: Codex's read-only permission profile with the network on (its `ttal`
    # reaches ttal's server over a unix socket), never a --sandbox, which would win over it.
    lead = launch_argv(rt, spec(tmp_path, read_only=True))
    assert "--sandbox" not in lead and lead[lead.index("--ask-for-approval") + 1] == "never"
    assert overrides_of(lead)["default_permissions"] == "ttal-review"
    assert overrides_of(lead)["permissions.ttal-review"] == {
        "extends": ":read-only", "network": {"enabled": True}}  # fmt: skip
    assert "default_permissions" not in overrides_of(worker)
    resume = resume_argv(rt, spec(tmp_path))
    assert resume[:2] == ["codex", "resume"] and resume[-3:] == ["--", CODEX_ID, RESUME_NOTE]
    fork = fork_argv(rt, spec(tmp_path), "ttal-id")
    assert fork[:2] == ["codex", "fork"] and fork[-3:] == ["--", CODEX_ID, "Do the task"]
    assert "ttal-id" not in fork


def overrides_of(argv: list[str]) -> dict[str, object]:
    """The -c overrides of a line, parsed as Codex parses them: TOML values."""
    found: dict[str, object] = {}
    for flag, value in itertools.pairwise(argv):
        if flag == "-c":
            key, _, raw = value.partition("=")
            found[key] = tomllib.loads(f"v = {raw}")["v"]
    return found


def test_overrides_are_toml_for_any_directory(tmp_path: Path) -> None:
    workdir = tmp_path / (ODD_DIR + "\x7f")
    workdir.mkdir()
    argv = launch_argv(runtime(Path("codex")), replace(spec(tmp_path), workdir=workdir))
    found = overrides_of(argv)
    assert found["projects"] == {str(workdir): {"trust_level": "trusted"}}
    assert found["check_for_update_on_startup"] is False
    assert found["allow_login_shell"] is False

    # Exit 2 from a UserPromptSubmit hook blocks the prompt in Codex 0.171: every command
    # turns any failure into exit 1, and Codex runs it in a shell, so the `||` applies.
    def hook(*args: str) -> dict[str, object]:
        command = shlex.join([sys.executable, "-m", *args]) + " || exit 1"
        return {"type": "command", "command": command, "timeout": 30}

    record = hook("ttal.adapters.runtimes.codex_config", "record", str(tmp_path / "w-1.session-id"))
    assert found["hooks.SessionStart"] == [{"hooks": [hook("ttal", "context"), record]}]
    busy, ack = hook("ttal", "report", "busy"), hook("ttal", "ack", "-")
    assert found["hooks.UserPromptSubmit"] == [{"hooks": [busy, ack]}]
    assert found["hooks.Stop"] == [{"hooks": [hook("ttal", "report", "idle")]}]


def test_the_user_prompt_submit_hooks_ack_what_the_prompt_holds(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """The hook commands as Codex runs them (`sh -c`, the event's JSON on stdin: this one is
    what Codex 0.171.0 passed, with the prompt under `prompt`). The real program runs them
    in tests/test_codex_e2e.py."""
    box = recorder_box(make_box, tmp_path / "rec", ["mgr"])
    mine = sent(send(box, "mgr", "the release is friday"))["id"]
    other = sent(send(box, "mgr", "not in the prompt"))["id"]
    argv = launch_argv(runtime(Path("codex")), spec(tmp_path))
    commands = [h["command"] for h in overrides_of(argv)["hooks.UserPromptSubmit"][0]["hooks"]]
    prompt = f"[ttal #{mine} from human]\nthe release is friday\n[reply with: ...]"
    event = json.dumps({**CODEX_PROMPT_EVENT, "prompt": prompt})
    as_mgr = {**box.env, "TTAL_AGENT": "mgr", "TTAL_ROLE": "manager"}
    for command in commands:
        proc = subprocess.run(["sh", "-c", command], input=event, env=as_mgr,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert (proc.returncode, proc.stdout) == (0, ""), f"{command}: {proc.stderr}"
    inbox = json.loads(box.ttal("inbox", "mgr", "--json", check=True).stdout)
    assert {m["id"]: m["acked"] for m in inbox["messages"]} == {mine: True, other: False}
    # Exit 2 blocks the prompt in Codex ("Blocked by hook"), and ttal's usage errors exit 2:
    # without TTAL_AGENT `ttal report` and `ttal ack -` refuse, and the hooks exit 1.
    for command in commands:
        proc = subprocess.run(["sh", "-c", command], input=event, env=box.env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 1 and "who?" in proc.stderr, (command, proc.stderr)


def test_the_session_start_hook_records_codexs_id(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    target = tmp_path / "run" / "lead.session-id"
    target.write_text("ttal-launch-id", encoding="utf-8")
    event = '{"session_id": "%s", "hook_event_name": "SessionStart", "source": "startup"}'
    assert codex_config.record(io.StringIO(event % CODEX_ID), target) == CODEX_ID
    assert target.read_text(encoding="utf-8") == CODEX_ID
    assert codex_config.record(io.StringIO("not json"), target) == ""
    assert codex_config.record(io.StringIO("{}"), target) == ""
    assert target.read_text(encoding="utf-8") == CODEX_ID  # kept: nothing to record
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left


def test_a_saved_conversation_is_found_by_its_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CODEX_HOME", raising=False)
    assert codex_config.home({"HOME": "/h"}) == Path("/h/.codex")
    env = {"CODEX_HOME": str(tmp_path)}
    assert codex_config.rollout(CODEX_ID, env) is None
    day = tmp_path / "sessions" / "2026" / "11" / "28"
    day.mkdir(parents=True)
    saved = day / f"rollout-2026-11-28T02-55-08-{CODEX_ID}.jsonl"
    saved.write_text("{}\n", encoding="utf-8")
    assert codex_config.rollout(CODEX_ID, env) == saved
    assert codex_config.rollout("", env) is None and codex_config.rollout("../x", env) is None
