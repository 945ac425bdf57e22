"""Driving a task by hand: idle scripted agents, identities, commits in a worktree, and a
snapshot of everything a refused command must leave alone."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Box
from ttal.adapters import sandbox

IDLE = "- idle: true\n"


def idle_box(make_box: Callable[..., Box], tmp_path: Path, extra_yaml: str = "") -> Box:
    """A sandbox whose worker and reviewer only idle: every step is driven by the test."""
    script = tmp_path / "idle.yaml"
    script.write_text(IDLE, encoding="utf-8")
    return make_box(worker_script=script, reviewer_script=script, extra_yaml=extra_yaml)


def worker_env(uuid: str) -> dict[str, str]:
    return {"TTAL_AGENT": f"w-{uuid[:8]}", "TTAL_ROLE": "worker", "TTAL_TASK": uuid}


def reviewer_env(uuid: str, stage: str = "implement") -> dict[str, str]:
    return {"TTAL_AGENT": f"r-{uuid[:8]}-{stage}", "TTAL_ROLE": "reviewer", "TTAL_TASK": uuid}


def worktree(box: Box, uuid: str) -> Path:
    path = Path(box.get(uuid)["ttal_worktree"])
    assert path.is_dir(), path
    return path


def commit(box: Box, uuid: str, name: str, text: str, message: str = "") -> str:
    """Write a file in the task's worktree and commit it; returns the new HEAD."""
    tree = worktree(box, uuid)
    (tree / name).write_text(text, encoding="utf-8")
    sandbox.git(tree, "add", "-A")
    sandbox.git(tree, "commit", "-qm", message or f"Edit {name}")
    return sandbox.git(tree, "rev-parse", "HEAD").strip()


def rows(box: Box, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    path = box.sb.state_dir / "ttal.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def events(box: Box, kind: str, uuid: str = "") -> list[str]:
    sql = "SELECT detail FROM events WHERE kind = ?" + (" AND task = ?" if uuid else "")
    return [r[0] for r in rows(box, sql, kind, *([uuid] if uuid else []))]


def annotations(box: Box, uuid: str) -> list[str]:
    return [a["description"] for a in box.get(uuid).get("annotations", [])]


def branches(box: Box, project: str) -> list[str]:
    out = box.git(project, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
    return out.splitlines()


def worktrees(box: Box, project: str) -> list[str]:
    """Worktrees other than the repository's own checkout."""
    out = box.git(project, "worktree", "list", "--porcelain")
    paths = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]
    return [p for p in paths if Path(p) != box.sb.repos[project]]


def world(box: Box) -> dict[str, Any]:
    """Everything a refused command must leave unchanged."""
    tasks = box.task("export", "rc.json.array=on")
    return {
        "tasks": [{k: v for k, v in t.items() if k != "urgency"} for t in json.loads(tasks.stdout)],
        "sessions": sorted(box.sessions()),
        "repos": {p: (branches(box, p), worktrees(box, p)) for p in box.sb.repos},
        "events": rows(box, "SELECT kind, task, detail FROM events ORDER BY id"),
        "messages": rows(box, "SELECT recipient, body FROM messages ORDER BY id"),
    }
