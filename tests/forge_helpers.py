"""A project that merges through GitHub, for the forge tests: a bare repository as the
remote ttal really pushes to, the scripted GitHub (tests/fake_github.py) that the real `gh`
talks to, and the task driven by hand through review."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.by_hand import commit, idle_box, reviewer_env, rows, worker_env
from tests.conftest import Box, wait_for
from tests.fake_github import FakeGitHub
from ttal.adapters import sandbox

needs_gh = pytest.mark.skipif(
    shutil.which("gh") is None or shutil.which("openssl") is None,
    reason="the real `gh` (Debian package gh; `make test` installs it) and openssl are needed",
)


def forge_box(make_box: Callable[..., Box], tmp_path: Path, pr: str = "",
              checks: tuple[str, ...] = ("unit",)) -> tuple[Box, FakeGitHub]:  # fmt: skip
    """An idle sandbox whose project `api` merges through the scripted GitHub. Every head
    commit gets `checks`, running, until the test says how they ended."""
    box = idle_box(make_box, tmp_path)
    repo = box.sb.repos["api"]
    remote = tmp_path / "remote" / "api.git"
    remote.parent.mkdir()
    sandbox.git(repo, "clone", "-q", "--bare", str(repo), str(remote))
    sandbox.git(repo, "remote", "add", "origin", str(remote))
    hub = FakeGitHub(tmp_path / "hub", remote).start()
    hub.auto_checks = checks
    text = box.sb.config.read_text(encoding="utf-8")
    where = f"    repo: {repo}\n    base: main\n"
    options = f"      repo: {hub.slug}\n      backoff: 0\n      retries: 2\n{pr}"
    text = text.replace(where, f"{where}    merge: github\n    remote: origin\n    pr:\n{options}")
    box.sb.config.write_text(text, encoding="utf-8")
    box.env.update(hub.env())
    return box, hub


def approved_task(box: Box, description: str = "Add JWT auth") -> tuple[str, str]:
    """A task whose worker committed and whose review lead approved: (uuid, head)."""
    uuid = box.add(description, "project:api")
    box.ttal("go", uuid, check=True)
    head = commit(box, uuid, "jwt.py", "TOKEN = 1\n", f"{description} ({uuid[:8]})")
    box.ttal("go", env=worker_env(uuid), check=True)
    box.ttal("review", "approve", "--note", "looks good", env=reviewer_env(uuid), check=True)
    # The approval goes on in the background (as `ttal go`): push, open the PR.
    wait_for(lambda: box.get(uuid).get("ttal_pr"), 30, "the PR to be opened")
    return uuid, head


def messages_to(box: Box, recipient: str) -> list[str]:
    return [r[0] for r in rows(box, "SELECT body FROM messages WHERE recipient = ? ORDER BY id",
                               recipient)]  # fmt: skip


def watch(box: Box) -> list[dict[str, Any]]:
    proc = box.ttal("watch", "--once", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [row for row in json.loads(proc.stdout) if row["kind"] == "forge"]
