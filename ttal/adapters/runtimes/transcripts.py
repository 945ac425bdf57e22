"""Where each runtime keeps a session's file of model replies, and reading only what is new.

- claude: `$CLAUDE_CONFIG_DIR/projects/<dir>/<session id>.jsonl` (claude_config.transcript),
  and its subagents' beside it, `<dir>/<session id>/subagents/[...]/agent-<id>.jsonl`
  (Claude Code 2.1.328);
- codex: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl`;
- scripted: `<ttal's run dir>/<session name>.usage.jsonl`, in Claude's format, written by
  the scripted agent's `usage` steps (tests and the demo);
- command: none (ttal cannot see what an arbitrary program spends).

A read starts at the cursor's byte offset and takes whole lines only: a line being written
is left for the next read. A file whose inode changed, or that shrank, is read again from
its start (the replies' keys keep what was counted from counting twice).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ttal.adapters.runtimes import claude_config, codex_config

MAX_READ = 16 * 1024 * 1024  # bytes per file per pass: a huge backlog is read over passes


@dataclass(frozen=True)
class Chunk:
    lines: list[str]
    inode: int
    offset: int  # where the next read starts
    restarted: bool  # read again from the start: the reader's state starts afresh


def files(kind: str, home: str, session_id: str, name: str, known: str = "") -> list[Path]:
    """The session's files that exist now: its conversation first (`known`: where it was
    found before; a search of Claude's projects costs a directory listing), then its
    subagents'."""
    main = Path(known) if known and os.path.exists(known) else None
    main = main or locate(kind, home, session_id, name)
    if main is None:
        return []
    if kind != "claude":
        return [main]
    return [main, *sorted((main.parent / session_id / "subagents").rglob("agent-*.jsonl"))]


def locate(kind: str, home: str, session_id: str, name: str) -> Path | None:
    if kind == "claude":
        return claude_config.transcript(session_id, {"CLAUDE_CONFIG_DIR": home})
    if kind == "codex":
        return codex_config.rollout(session_id, {"CODEX_HOME": home})
    if kind == "scripted":
        path = Path(home) / f"{name}.usage.jsonl"
        return path if path.exists() else None
    return None


def home_of(kind: str, env: dict[str, str], run_dir: Path) -> str:
    """Where `kind` keeps its files for a session with environment `env` (ttal's own
    environment with the session's on top)."""
    if kind == "claude":
        return str(claude_config.config_dir(env))
    if kind == "codex":
        return str(codex_config.home(env))
    return str(run_dir)


def read_new(path: Path, inode: int, offset: int) -> Chunk:
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            restarted = st.st_ino != inode or st.st_size < offset
            start = 0 if restarted else offset
            handle.seek(start)
            data = handle.read(MAX_READ)
    except OSError:
        return Chunk([], inode, offset, False)
    end = data.rfind(b"\n") + 1  # whole lines only
    text = data[:end].decode("utf-8", errors="replace")
    return Chunk(text.splitlines(), st.st_ino, start + end, restarted)


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1
