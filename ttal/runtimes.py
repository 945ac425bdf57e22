"""Runtimes are adapters behind one small interface: how to launch an agent with a prompt,
how to resume or fork its session, and how to run read-only for reviewers.

- scripted: a deterministic agent (ttal.agents.scripted) for the demo and the tests;
- command: any program, from a command-line template;
- claude: Claude Code;  codex: OpenAI Codex CLI.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ttal.config import Runtime
from ttal.errors import ConfigError


@dataclass(frozen=True)
class LaunchSpec:
    prompt: str
    prompt_file: Path
    workdir: Path
    read_only: bool = False
    session_id: str = ""
    log_file: Path | None = None


def launch_argv(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    """The command line that starts `runtime` on `spec.prompt` in a fresh session."""
    if runtime.kind == "scripted":
        return _scripted(runtime, spec)
    if runtime.kind == "command":
        return _command(runtime, spec)
    if runtime.kind == "claude":
        return [*_claude(runtime, spec), "--", spec.prompt]
    if runtime.kind == "codex":
        return [*_codex(runtime, spec), spec.prompt]
    raise ConfigError(f"runtime {runtime.name}: unknown kind {runtime.kind!r}")


def resume_argv(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    """Resume the session `spec.session_id` where the runtime can; else start afresh."""
    if runtime.kind == "claude" and spec.session_id:
        return [runtime.command, *runtime.args, "--resume", spec.session_id, *_claude_perm(spec)]
    if runtime.kind == "codex" and spec.session_id:
        return [runtime.command, "resume", *_codex_flags(spec), spec.session_id]
    return launch_argv(runtime, spec)


def fork_argv(runtime: Runtime, spec: LaunchSpec, new_session_id: str) -> list[str]:
    if runtime.kind == "claude":
        return [runtime.command, *runtime.args, "--resume", spec.session_id, "--fork-session",
                "--session-id", new_session_id, *_claude_perm(spec)]  # fmt: skip
    if runtime.kind == "codex":
        return [runtime.command, "fork", *_codex_flags(spec), spec.session_id]
    raise ConfigError(f"runtime {runtime.name} ({runtime.kind}) cannot fork a session")


def _scripted(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    argv = [sys.executable, "-m", "ttal.agents.scripted", "--script", str(runtime.script)]
    argv += ["--prompt-file", str(spec.prompt_file)]
    if spec.log_file:
        argv += ["--log", str(spec.log_file)]
    return argv


def _command(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    values = {
        "prompt_file": str(spec.prompt_file),
        "workdir": str(spec.workdir),
        "session_id": spec.session_id,
        "read_only": "1" if spec.read_only else "",
    }
    try:
        words = shlex.split(runtime.command)
    except ValueError as err:
        raise ConfigError(f"runtimes.{runtime.name}.command: cannot parse: {err}") from None
    argv = []
    for word in words:
        if word == "{prompt}":
            argv.append(spec.prompt)
            continue
        for key, value in values.items():
            word = word.replace("{" + key + "}", value)
        argv.append(word)
    return argv + list(runtime.args)


def _claude_perm(spec: LaunchSpec) -> list[str]:
    if spec.read_only:
        # Review leads read and run commands (ttal review ...) but never edit files.
        return ["--dangerously-skip-permissions", "--disallowedTools", "Edit Write NotebookEdit"]
    return ["--dangerously-skip-permissions"]


def _claude(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    argv = [runtime.command, *runtime.args]
    if spec.session_id:
        argv += ["--session-id", spec.session_id]
    return argv + _claude_perm(spec)


def _codex_flags(spec: LaunchSpec) -> list[str]:
    sandbox = "read-only" if spec.read_only else "workspace-write"
    return ["--sandbox", sandbox, "--ask-for-approval", "never"]


def _codex(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    return [runtime.command, *runtime.args, *_codex_flags(spec), "--cd", str(spec.workdir)]


def shell_line(argv: list[str], exit_file: Path) -> str:
    """Run argv in the session and record its exit status: tmux 3.3a loses pane exit codes
    (pane_dead_status was empty in 9 of 20 dead panes, libraries.md §2.2)."""
    tmp = f"{exit_file}.tmp"
    record = f"echo $rc > {shlex.quote(tmp)} && mv {shlex.quote(tmp)} {shlex.quote(str(exit_file))}"
    return f"{shlex.join(argv)}; rc=$?; {record}; exit $rc"
