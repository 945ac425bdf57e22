"""Claude Code's own configuration, prepared before ttal launches it in a session.

In a fresh pane Claude Code stops at a question unless its user config says it was answered:
the onboarding (theme, login), "use this API key?", and the workspace trust dialog. Before
each launch ttal merges the answers into `~/.claude.json` (`$CLAUDE_CONFIG_DIR/.claude.json`
when that is set), keeping every other key:

- `hasCompletedOnboarding: true`;
- `customApiKeyResponses.approved` gains the last 20 characters of the ANTHROPIC_API_KEY set
  under the runtime's `env:` (Claude Code 2.1.328 stores `key.trim().slice(-20)`), and only
  that key: a key ttal was not given is never approved;
- `projects[<dir>].hasTrustDialogAccepted: true` for the session's working directory.

The merge holds the lock Claude Code itself takes on that file (proper-lockfile: a directory
`<file>.lock`, stale after 10 s) and replaces the file atomically, so a Claude session
saving its config at the same moment neither loses these keys nor has its own lost.

The bypass-permissions disclaimer is answered per session instead, in the settings passed
with `--settings` (`skipDangerousModePermissionPrompt`: 2.1.x migrated the older
`bypassPermissionsModeAccepted` key away), together with ttal's hooks.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ttal.adapters import poll
from ttal.errors import ExternalError

KEY_SUFFIX = 20  # characters of an API key Claude Code records as approved
LOCK_STALE = 10.0  # proper-lockfile's default: an older lock directory was left by a crash
LOCK_WAIT = 15.0
HOOK_TIMEOUT = 30  # seconds Claude Code gives each ttal hook
# Claude Code 2.1.328's notification types that mean a dialog waits for a person's answer.
WAITING_NOTIFICATIONS = "permission_prompt|elicitation_dialog|elicitation_url_dialog"


def config_file(env: Mapping[str, str]) -> Path:
    base = env.get("CLAUDE_CONFIG_DIR") or env.get("HOME") or str(Path.home())
    return Path(base).expanduser() / ".claude.json"


def config_dir(env: Mapping[str, str]) -> Path:
    """Where Claude Code keeps its transcripts (`projects/<dir>/<session id>.jsonl`)."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"]).expanduser()
    return Path(env.get("HOME") or str(Path.home())).expanduser() / ".claude"


def transcript(session_id: str, env: Mapping[str, str]) -> Path | None:
    """The saved conversation of `session_id`, if Claude Code wrote one: a session killed
    before its first prompt has none, and `--resume` of it would exit at once."""
    if not session_id:
        return None
    return next((config_dir(env) / "projects").glob(f"*/{session_id}.jsonl"), None)


def prepare(workdir: Path, env: Mapping[str, str]) -> Path:
    """Merge the answers for a session in `workdir` into Claude's config; returns the file."""
    path = config_file(env)
    key = env.get("ANTHROPIC_API_KEY", "").strip()
    with locked(path):
        data = _read(path)
        merged = merge(data, [str(workdir), os.path.realpath(workdir)], key)
        if merged != data:
            _write(path, merged)
    return path


def merge(data: dict[str, Any], dirs: list[str], key: str = "") -> dict[str, Any]:
    """`data` with the answers added; pure, and unchanged keys are left as they were."""
    out = dict(data)
    out["hasCompletedOnboarding"] = True
    if key:
        responses = dict(out.get("customApiKeyResponses") or {})
        approved = list(responses.get("approved") or [])
        if key[-KEY_SUFFIX:] not in approved:
            approved.append(key[-KEY_SUFFIX:])
        out["customApiKeyResponses"] = {"rejected": [], **responses, "approved": approved}
    projects = dict(out.get("projects") or {})
    for directory in dirs:
        projects[directory] = {**(projects.get(directory) or {}), "hasTrustDialogAccepted": True}
    out["projects"] = projects
    return out


def settings(ttal: list[str]) -> dict[str, Any]:
    """What ttal passes with `--settings`: its hooks, and the disclaimer answered.

    SessionStart prints `ttal context`, which Claude adds to the conversation (on start,
    resume, /clear and compaction); UserPromptSubmit and Stop report busy and idle, so
    messages queue while a turn runs and go out the moment it ends. UserPromptSubmit also
    acknowledges the messages the prompt holds (`ttal ack -` reads the hook's JSON), so a
    message typed into a pane whose Claude died before reading it is typed again after the
    restart. Notification, for a dialog that waits for a person's answer (not for the
    "waiting for your input" reminder after a minute idle), reports waiting: messages queue,
    as typing into the dialog would answer it."""

    def hook(*args: str, matcher: str = "") -> dict[str, Any]:
        # Exit code 2 means something to Claude: for UserPromptSubmit it erases the prompt,
        # for Stop it keeps the turn going with our stderr as the next instruction. No
        # failure of ttal's may do either: any failure exits 1 (shown, then ignored).
        command = shlex.join([*ttal, *args]) + " || exit 1"
        entry = {"type": "command", "command": command, "timeout": HOOK_TIMEOUT}
        return {"matcher": matcher, "hooks": [entry]} if matcher else {"hooks": [entry]}

    return {
        "skipDangerousModePermissionPrompt": True,
        "hooks": {
            "SessionStart": [hook("context")],
            "UserPromptSubmit": [hook("report", "busy"), hook("ack", "-")],
            "Stop": [hook("report", "idle")],
            "Notification": [hook("report", "waiting", matcher=WAITING_NOTIFICATIONS)],
        },
    }


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Claude Code's own lock on its config: mkdir of `<realpath>.lock` (proper-lockfile)."""
    lock = Path(os.path.realpath(path) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)

    def take() -> bool:
        while True:
            try:
                lock.mkdir()
                return True
            except FileExistsError:
                if not _stale(lock):
                    return False
                _remove(lock)

    if not poll.until(take, LOCK_WAIT):
        raise ExternalError(
            f"{path} is locked ({lock} exists); Claude's config was not changed",
            hint=f"if no Claude Code is running, remove {lock} and try again",
        )
    try:
        yield
    finally:
        _remove(lock)


def _stale(lock: Path) -> bool:
    try:
        return time.time() - lock.stat().st_mtime > LOCK_STALE
    except FileNotFoundError:
        return False


def _remove(lock: Path) -> None:
    with suppress(FileNotFoundError):
        lock.rmdir()


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise ExternalError(f"cannot read {path}: {err}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as err:
        raise ExternalError(
            f"{path} is not valid JSON ({err}); ttal left it unchanged",
            hint="fix or move the file (Claude Code keeps backups in ~/.claude/backups)",
        ) from None
    if not isinstance(data, dict):
        raise ExternalError(f"{path} does not hold a JSON object; ttal left it unchanged")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    """Atomically: Claude Code may read the file at any moment."""
    tmp = path.with_name(f".{path.name}.ttal-{os.getpid()}.tmp")
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600  # it can hold an account's details
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)
