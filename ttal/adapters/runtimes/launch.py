"""Runtimes are adapters behind one small interface: how to launch an agent with a prompt,
how to resume or fork its session, and how to run read-only for reviewers.

- scripted: a deterministic agent (ttal.scripted_agent.run) for the demo and the tests;
- command: any program, from a command-line template;
- claude: Claude Code, proven end to end against the real program (tests/test_claude_e2e.py);
- codex: OpenAI Codex CLI, proven end to end against the real program (tests/test_codex_e2e.py).

`prepare` does what a launch needs besides its command line: for Claude Code, the settings
file with ttal's hooks and the answers in ~/.claude.json (runtimes/claude_config.py). Codex
needs nothing on disk: its answers and hooks are `-c` flags on its command line
(runtimes/codex_config.py).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ttal.adapters import poll, relay
from ttal.adapters.runtimes import claude_config, codex_config
from ttal.config.model import Runtime
from ttal.errors import ConfigError, ExternalError

RESUME_NOTE = (
    "[ttal] This session was restarted after it ended. Continue where you left off; "
    "`ttal context` shows where things stand."
)


@dataclass(frozen=True)
class LaunchSpec:
    prompt: str
    prompt_file: Path
    workdir: Path
    read_only: bool = False
    session_id: str = ""
    log_file: Path | None = None
    settings_file: Path | None = None  # claude: its --settings (ttal's hooks) are written here
    session_id_file: Path | None = None  # codex: its SessionStart hook records its id here


def launch_argv(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    """The command line that starts `runtime` on `spec.prompt` in a fresh session."""
    if runtime.kind == "scripted":
        return _scripted(runtime, spec)
    if runtime.kind == "command":
        return _command(runtime, spec)
    if runtime.kind == "claude":
        return [*_claude(runtime, spec), "--", spec.prompt]
    if runtime.kind == "codex":
        return [*_codex(runtime, spec), "--", spec.prompt]
    raise ConfigError(f"runtime {runtime.name}: unknown kind {runtime.kind!r}")


def can_resume(runtime: Runtime, session_id: str, env: Mapping[str, str]) -> bool:
    """Whether `resume_argv` would continue `session_id`: Claude Code or Codex, when it
    saved that conversation."""
    if runtime.kind == "codex":
        return codex_config.rollout(session_id, env) is not None
    return runtime.kind == "claude" and claude_config.transcript(session_id, env) is not None


def resume_argv(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    """Resume the session `spec.session_id` where the runtime can; else start afresh."""
    if runtime.kind == "claude" and spec.session_id:
        # The same session id goes on; the note is the turn that gets it working again.
        return [*_claude_base(runtime, spec), "--resume", spec.session_id, *_claude_perm(spec),
                "--", RESUME_NOTE]  # fmt: skip
    if runtime.kind == "codex" and spec.session_id:
        return [*_codex(runtime, spec, "resume"), "--", spec.session_id, RESUME_NOTE]
    return launch_argv(runtime, spec)


def fork_argv(runtime: Runtime, spec: LaunchSpec, new_session_id: str) -> list[str]:
    """A new session `new_session_id` that starts as a copy of `spec.session_id`."""
    if runtime.kind == "claude":
        prompt = ["--", spec.prompt] if spec.prompt else []
        return [*_claude_base(runtime, spec), "--resume", spec.session_id, "--fork-session",
                "--session-id", new_session_id, *_claude_perm(spec), *prompt]  # fmt: skip
    if runtime.kind == "codex":
        # Codex picks the fork's id itself; its SessionStart hook records it.
        prompt = [spec.prompt] if spec.prompt else []
        return [*_codex(runtime, spec, "fork"), "--", spec.session_id, *prompt]
    raise ConfigError(f"runtime {runtime.name} ({runtime.kind}) cannot fork a session")


def _scripted(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    argv = [sys.executable, "-m", "ttal.scripted_agent.run", "--script", str(runtime.script)]
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


def _claude_base(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    # Not --bare: it skips the hooks that report idle and busy.
    settings = ["--settings", str(spec.settings_file)] if spec.settings_file else []
    return [runtime.command, *runtime.args, *settings]


def _claude(runtime: Runtime, spec: LaunchSpec) -> list[str]:
    argv = _claude_base(runtime, spec)
    if spec.session_id:
        argv += ["--session-id", spec.session_id]
    return argv + _claude_perm(spec)


def prepare(runtime: Runtime, spec: LaunchSpec, env: Mapping[str, str]) -> None:
    """What a launch needs besides its command line. Claude Code: the settings file with
    ttal's hooks, and its questions answered for `spec.workdir` in ~/.claude.json. A Codex
    review lead: a warm server to run its `ttal` commands (even with TTAL_SERVER=off)."""
    if runtime.kind == "codex" and spec.read_only:
        ensure_server(runtime)
    if runtime.kind != "claude":
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and env.get("IS_SANDBOX") != "1":
        raise ConfigError(
            f"runtimes.{runtime.name}: Claude Code refuses --dangerously-skip-permissions as "
            "root unless IS_SANDBOX=1; no session was started",
            hint=f'on a disposable machine add env: {{IS_SANDBOX: "1"}} to runtimes.'
            f"{runtime.name}; otherwise run ttal as a normal user",
        )
    if spec.settings_file:
        settings = claude_config.settings([sys.executable, "-m", "ttal"])
        spec.settings_file.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    claude_config.prepare(spec.workdir, env)


# Workers: no Codex sandbox. workspace-write keeps .git read-only (no commits) and its network
# filter blocks unix sockets, so ttal's tmux server is out of reach (checked on 0.171.0).
CODEX_SANDBOX = ["--sandbox", "danger-full-access", "--ask-for-approval", "never"]
# Review leads: Codex's read-only permission profile, with the network on. The ttal commands
# they run write (Taskwarrior's lock, ttal's database, the merge), so the `ttal` client hands
# them to the warm server (ttal/warm/server.py) over its unix socket and they run outside the
# sandbox. On Linux, Codex 0.171's seccomp filter lets a sandboxed command connect to a unix
# socket only with `network.enabled = true` (then to any socket, and TCP too); its
# `unix_sockets` allow-list changed nothing. `-c default_permissions` won over a
# `sandbox_mode` in config.toml, in a `--profile` file, in the project's .codex/config.toml
# and in `-c`; only a `--sandbox` flag beat it, and ttal's config refuses one in `args:`.
REVIEW_PROFILE = "ttal-review"
CODEX_REVIEW_SANDBOX = [
    "--ask-for-approval", "never", "-c", f'default_permissions="{REVIEW_PROFILE}"',
    "-c", f'permissions.{REVIEW_PROFILE}={{extends=":read-only", network={{enabled=true}}}}',
]  # fmt: skip


def _codex(runtime: Runtime, spec: LaunchSpec, *subcommand: str) -> list[str]:
    """`codex [resume|fork] [args] <flags>`: no approval prompts, the session's directory as
    its root, and ttal's answers and hooks as -c overrides (ttal.adapters.runtimes.codex_config)."""
    hook_commands = codex_config.hooks([sys.executable, "-m", "ttal"], spec.session_id_file)
    sandbox = CODEX_REVIEW_SANDBOX if spec.read_only else CODEX_SANDBOX
    # --no-daemon: Codex's shared background server (its default without -c) outlives the
    # session and runs every session's commands in the environment of the one that started
    # it: a second agent's commands saw the first one's TTAL_AGENT (checked on 0.171.0).
    return [runtime.command, *subcommand, *runtime.args, *sandbox, "--no-daemon",
            "--cd", str(spec.workdir), "--dangerously-bypass-hook-trust",
            *codex_config.overrides(spec.workdir, hook_commands)]  # fmt: skip


def session_env(runtime: Runtime, spec: LaunchSpec) -> dict[str, str]:
    """Variables a session needs from its runtime. A Codex review lead's `ttal` commands
    must reach the warm server ttal started for it: its filesystem is read-only."""
    if runtime.kind != "codex" or not spec.read_only:
        return {}
    base = os.path.dirname(relay.runtime_dir())  # $TTAL_RUNTIME_DIR, else $XDG_RUNTIME_DIR, …
    return {"TTAL_RUNTIME_DIR": base, "TTAL_SERVER": "on",
            "TTAL_SANDBOX": "read-only"}  # fmt: skip


def ensure_server(runtime: Runtime, wait: float = 15) -> None:
    """Start the warm server unless it runs, and wait until it answers."""
    if relay.control("status") is not None:
        return
    relay.start_server()
    if not poll.until(lambda: relay.control("status") is not None, wait):
        raise ExternalError(
            f"runtimes.{runtime.name}: ttal's server did not answer on "
            f"{relay.socket_path()} within {wait:.0f} s; a Codex review lead's filesystem "
            "is read-only and its `ttal` commands run there, so no session was started",
            hint="`ttal server start` says why; then `ttal go` again",
        )


def shell_line(argv: list[str], exit_file: Path) -> str:
    """Run argv in the session and record its exit status: tmux 3.3a loses pane exit codes
    (pane_dead_status was empty in 9 of 20 dead panes, libraries.md §2.2)."""
    tmp = f"{exit_file}.tmp"
    record = f"echo $rc > {shlex.quote(tmp)} && mv {shlex.quote(tmp)} {shlex.quote(str(exit_file))}"
    return f"{shlex.join(argv)}; rc=$?; {record}; exit $rc"
