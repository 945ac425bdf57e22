"""OpenAI Codex CLI's configuration for a ttal session, all of it on the command line.

ttal writes nothing to `~/.codex/config.toml` (or `$CODEX_HOME`): every answer a fresh pane
needs is a `-c key=value` override (Codex parses the value as TOML) and lasts for that one
process. Checked against Codex 0.171.0 (tests/test_codex_args.py, tests/test_codex_e2e.py):

- `projects={"<dir>"={trust_level="trusted"}}` for the session's directory (and its real
  path): otherwise Codex stops at "Trust this folder?". The table replaces the user's
  `projects` for that process only, so other projects' trust is not seen by it (it works in
  one directory) and nothing is saved;
- `check_for_update_on_startup=false`: no update check and no "update available" question;
- `allow_login_shell=false`: commands run in a plain shell that inherits the session's
  environment. By default Codex runs them in a snapshot of a login shell, and Debian's
  /etc/profile resets PATH, so `ttal` (ttal puts its own directory first on the session's
  PATH) was "command not found";
- `hooks.SessionStart`, `hooks.UserPromptSubmit`, `hooks.Stop`: the same hooks ttal gives
  Claude Code (`ttal context`; `ttal report busy` and `ttal ack -`; `ttal report idle`), plus
  one that records Codex's own session id, with `--enable hooks` (a user's config may turn the
  feature off). Hooks from `-c` count as untrusted, so ttal also passes
  `--dangerously-bypass-hook-trust` (for this process: it trusts nothing else on disk).
  Codex runs every command of a group, each with the event's JSON on stdin; its
  UserPromptSubmit JSON has the prompt under `prompt`, as Claude Code's does.

Codex picks its own session ids (UUIDv7). Its SessionStart hook gets the id on stdin and
ttal writes it to `<state_dir>/run/<session>.session-id`; `codex resume <id>` and
`codex fork <id>` then find the conversation in `$CODEX_HOME/sessions/YYYY/MM/DD/
rollout-<time>-<id>.jsonl`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

HOOK_TIMEOUT = 30  # seconds Codex gives each ttal hook
# Exit code 2 means something to Codex 0.171, as to Claude Code: for UserPromptSubmit it
# blocks the prompt ("Blocked by hook", the model never sees it). ttal's usage errors exit 2,
# so every hook command turns any failure into 1 (shown, then ignored).
ON_FAILURE = " || exit 1"


def home(env: Mapping[str, str]) -> Path:
    """Codex's home: `$CODEX_HOME`, else `~/.codex`."""
    found = env.get("CODEX_HOME") or os.environ.get("CODEX_HOME")
    if found:
        return Path(found).expanduser()
    return Path(env.get("HOME") or str(Path.home())).expanduser() / ".codex"


def rollout(session_id: str, env: Mapping[str, str]) -> Path | None:
    """The saved conversation of `session_id`, if Codex wrote one (it does once the first
    turn starts; a session killed before that has none, and `codex resume` would fail)."""
    if not session_id or "/" in session_id:
        return None
    pattern = f"sessions/*/*/*/rollout-*-{session_id}.jsonl"
    return next(home(env).glob(pattern), None)


def toml_str(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's, except that TOML also wants DEL
    escaped and has no surrogate pairs (so non-ASCII is kept as it is)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def hooks(ttal: list[str], session_id_file: Path | None) -> dict[str, list[list[str]]]:
    """The command lines of ttal's hooks per Codex event."""
    start = [[*ttal, "context"]]
    if session_id_file is not None:
        record = [
            sys.executable,
            "-m",
            "ttal.adapters.runtimes.codex_config",
            "record",
            str(session_id_file),
        ]
        start.append(record)
    return {
        "SessionStart": start,
        "UserPromptSubmit": [[*ttal, "report", "busy"], [*ttal, "ack", "-"]],
        "Stop": [[*ttal, "report", "idle"]],
    }


def overrides(workdir: Path, hook_commands: Mapping[str, list[list[str]]]) -> list[str]:
    """The `-c` flags for a session in `workdir` (see the module's docstring)."""
    dirs = dict.fromkeys([str(workdir), os.path.realpath(workdir)])
    trusted = ", ".join(f"{toml_str(d)}={{trust_level={toml_str('trusted')}}}" for d in dirs)
    flags = ["-c", f"projects={{{trusted}}}", "-c", "check_for_update_on_startup=false",
             "-c", "allow_login_shell=false", "--enable", "hooks"]  # fmt: skip
    for event, commands in hook_commands.items():
        handlers = ", ".join(_handler(shlex.join(argv) + ON_FAILURE) for argv in commands)
        flags += ["-c", f"hooks.{event}=[{{hooks=[{handlers}]}}]"]
    return flags


def _handler(command: str) -> str:
    return f"{{type={toml_str('command')}, command={toml_str(command)}, timeout={HOOK_TIMEOUT}}}"


def record(stdin: IO[str], target: Path) -> str:
    """SessionStart hook: write the session id Codex passes on stdin to `target`
    (atomically: ttal may read it at any moment). Returns the id, "" when there was none."""
    try:
        data = json.loads(stdin.read() or "{}")
    except ValueError:
        return ""
    session_id = str(data.get("session_id") or "") if isinstance(data, dict) else ""
    if not session_id:
        return ""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(session_id, encoding="utf-8")
    os.replace(tmp, target)
    return session_id


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "record":
        print(
            "usage: python -m ttal.adapters.runtimes.codex_config record SESSION_ID_FILE",
            file=sys.stderr,
        )
        return 2
    record(sys.stdin, Path(argv[1]))
    return 0  # a hook that fails would only show an error in Codex's pane


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
