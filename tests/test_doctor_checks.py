"""`ttal doctor` sees what would stop a task before it starts (issue 10, items 3 and 4):
Taskwarrior 3.x over 2.x data not yet imported, and no git identity for the workers'
commits. Real task and git."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Box
from ttal.adapters import sandbox

ROOTS = (Path(__file__).resolve().parents[1], Path("/work/main"))


def _tw3() -> Path | None:
    """A Taskwarrior 3.x: TTAL_TEST_TASK when it is one, else the one `make test-tw3`
    caches in .tools/tw3 (the checkout's or the main one's)."""
    chosen = os.environ.get("TTAL_TEST_TASK")
    candidates = [Path(chosen)] if chosen else []
    candidates += [root / ".tools" / "tw3" / "bin" / "task" for root in ROOTS]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            out = subprocess.run([str(path), "--version"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip().startswith("3."):
                return path
    return None


def _doctor(box: Box, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    proc = box.ttal("doctor", "--json", env=env)
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    return proc.returncode, checks


def test_doctor_reports_2x_data_under_taskwarrior_3(box: Box) -> None:
    tw3 = _tw3()
    if tw3 is None:
        pytest.skip("no Taskwarrior 3.x (TTAL_TEST_TASK, or .tools/tw3 from make test-tw3)")
    # The user's 2.x data, as 2.6 leaves it; 3.x has not imported it.
    data = box.sb.task_data
    away = data.with_name("task-3x")
    shutil.move(data, away)
    data.mkdir()
    shutil.copytree(away / "hooks", data / "hooks")
    uuid = "0a177a0d-1111-4222-8333-444455556666"
    (data / "pending.data").write_text(
        f'[description:"from 2.x" entry:"1700000000" status:"pending" uuid:"{uuid}"]\n',
        encoding="utf-8",
    )
    env = {"PATH": f"{tw3.parent}{os.pathsep}{os.environ['PATH']}"}
    code, checks = _doctor(box, env)
    assert code != 0, checks
    bad = checks["task data"]
    assert not bad["ok"] and "task import-v2" in bad["detail"], bad
    assert "2.x data" in bad["detail"] and "pending.data" in bad["detail"]
    # The fix it names works: after `task import-v2` the check is ok.
    subprocess.run([str(tw3), "rc.confirmation=no", "import-v2"], env={**box.env, **env},
                   capture_output=True, check=True)  # fmt: skip
    code, checks = _doctor(box, env)
    assert checks["task data"]["ok"], checks["task data"]


def test_doctor_fails_without_a_git_identity_and_names_the_fix(box: Box) -> None:
    """A fresh account: HOME without a .gitconfig, no GIT_* in the environment."""
    code, checks = _doctor(box)
    assert code == 0 and checks["git identity"]["ok"], checks.get("git identity")
    for key in [k for k in box.env if k.startswith("GIT_")]:
        del box.env[key]
    assert not (Path(box.env["HOME"]) / ".gitconfig").exists()
    repo = box.sb.repos["api"]
    for key in ("user.name", "user.email"):  # the sandbox's own, which a fresh repo lacks
        sandbox.git(repo, "config", "--unset", key)
    if subprocess.run(["git", "-C", str(repo), "var", "GIT_AUTHOR_IDENT"], env=box.env,
                      capture_output=True).returncode == 0:  # fmt: skip
        # This machine names a default author (a domain name): be the account that has none.
        sandbox.git(repo, "config", "user.useConfigOnly", "true")
    code, checks = _doctor(box)
    bad = checks["git identity"]
    assert code != 0 and not bad["ok"], checks
    assert "cannot commit" in bad["detail"] and "git config --global user.email" in bad["detail"]
    assert str(repo) in bad["detail"] or "more" in bad["detail"]
