"""ttal finds the taskrc the way Taskwarrior does, and never writes to a store not set up.

The layouts people have: `$TASKRC` (dotfiles), `~/.taskrc`, only `$XDG_CONFIG_HOME/task/taskrc`;
with no `taskwarrior:` block in ttal.yaml (as `ttal init` suggests), and one with the block and
`$TASKRC` naming another file. HOME and XDG_CONFIG_HOME are the test's (conftest).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import libtmux
import pytest

from tests.conftest import Box
from ttal.adapters import sandbox
from ttal.errors import Exit


def _box(tmp_path: Path, server: type[libtmux.Server], layout: str, block: bool = False) -> Box:
    sb = sandbox.build(tmp_path / "box", socket=server().socket_name or "")
    text = sb.config.read_text(encoding="utf-8")
    tw_block = f"taskwarrior:\n  taskrc: {sb.taskrc}\n  data: {sb.task_data}\n"
    assert tw_block in text
    if not block:
        sb.config.write_text(text.replace(tw_block, ""), encoding="utf-8")
    box = Box(sb)
    box.env.pop("TASKRC", None)
    home = Path(os.environ["HOME"])
    rc = {
        "TASKRC": tmp_path / "dotfiles" / "taskrc",
        "home": home / ".taskrc",
        "xdg": Path(os.environ["XDG_CONFIG_HOME"]) / "task" / "taskrc",
    }[layout]
    if layout == "TASKRC":
        box.env["TASKRC"] = str(rc)
    rc.parent.mkdir(parents=True, exist_ok=True)
    rc.write_text(f"# my taskrc\ndata.location={tmp_path / 'mydata'}\n", encoding="utf-8")
    return box


def _rcs(tmp_path: Path) -> dict[Path, str | None]:
    home = Path(os.environ["HOME"])
    paths = [home / ".taskrc", Path(os.environ["XDG_CONFIG_HOME"]) / "task" / "taskrc",
             tmp_path / "dotfiles" / "taskrc", tmp_path / "box" / "taskrc"]  # fmt: skip
    return {p: p.read_text(encoding="utf-8") if p.exists() else None for p in paths}


def _count(box: Box, env: dict[str, str] | None = None) -> str:
    proc = box.task("count", env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("layout", ["TASKRC", "home", "xdg"])
def test_doctor_fix_edits_the_taskrc_taskwarrior_reads(
    tmp_path: Path, TestServer: type[libtmux.Server], layout: str
) -> None:
    box = _box(tmp_path, TestServer, layout)
    uuid = box.add("my own task", "project:api")
    count, before = _count(box), _rcs(tmp_path)
    box.ttal("doctor", "--fix", check=True)
    after = _rcs(tmp_path)
    changed = [p for p in after if after[p] != before[p]]
    assert len(changed) == 1, changed  # the one Taskwarrior reads; no new file beside it
    assert before[changed[0]] is not None, f"doctor --fix created {changed[0]}"
    assert "ttal.taskrc" in str(after[changed[0]])
    assert _count(box) == count
    proc = box.ttal("go", uuid, check=True)
    assert "spawned worker" in proc.stdout
    task = box.get(uuid)
    assert task["description"] == "my own task"
    assert task.get("ttal_session", "").startswith("w-"), task
    assert _count(box) == count


def test_the_ttal_yaml_block_wins_over_taskrc(
    tmp_path: Path, TestServer: type[libtmux.Server]
) -> None:
    box = _box(tmp_path, TestServer, "TASKRC", block=True)
    mine = box.add("my own task")
    count, before = _count(box), _rcs(tmp_path)
    box.ttal("doctor", "--fix", check=True)
    after = _rcs(tmp_path)
    assert [p for p in after if after[p] != before[p]] == [box.sb.taskrc]
    assert _count(box) == count and box.get(mine)["description"] == "my own task"
    ttal_env = {"TASKRC": str(box.sb.taskrc)}
    uuid = box.task("rc.verbose=new-uuid", "add", "ttal's task", "project:api", env=ttal_env)
    ref = uuid.stdout.split("Created task ")[1].split(".")[0].strip()
    assert "spawned worker" in box.ttal("go", ref, check=True).stdout


def _task_calls(box: Box, tmp_path: Path) -> Path:
    """Put a `task` on PATH that logs each call's arguments, then runs the real one."""
    shim, log, real = tmp_path / "shim", tmp_path / "task-calls.log", shutil.which("task")
    shim.mkdir()
    (shim / "task").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (shim / "task").chmod(0o755)
    box.env["PATH"] = f"{shim}:{box.env['PATH']}"
    return log


def _refused(box: Box, uuid: str, what: str) -> None:
    before = box.get(uuid)
    proc = box.ttal("go", uuid)
    assert proc.returncode == Exit.CONFIG, (proc.returncode, proc.stdout, proc.stderr)
    assert "ttal doctor --fix" in proc.stdout + proc.stderr
    assert what in proc.stdout + proc.stderr
    after = box.get(uuid)
    assert after == before  # nothing changed: no words in the description, no fields
    # No session for this task (another task's worker may be running in the same box).
    assert not [s for s in box.sessions() if uuid[:8] in s]


def test_go_refuses_a_store_without_the_udas(
    tmp_path: Path, TestServer: type[libtmux.Server]
) -> None:
    box = _box(tmp_path, TestServer, "TASKRC")
    uuid = box.add("my own task", "project:api")
    _refused(box, uuid, "does not declare ttal's fields")
    assert box.get(uuid)["description"] == "my own task"
    box.ttal("doctor", "--fix", check=True)  # the refusal was not cached
    assert "spawned worker" in box.ttal("go", uuid, check=True).stdout


def test_go_refuses_a_store_without_the_hooks_and_checks_cheaply(
    tmp_path: Path, TestServer: type[libtmux.Server]
) -> None:
    box = _box(tmp_path, TestServer, "xdg")
    first, second = box.add("one", "project:api"), box.add("two", "project:web")
    box.ttal("doctor", "--fix", check=True)
    log = _task_calls(box, tmp_path)
    assert "spawned worker" in box.ttal("go", first, check=True).stdout
    assert sum(line.startswith("_show") or " _show" in line
               for line in log.read_text().splitlines()) == 1  # fmt: skip
    hooks = tmp_path / "mydata" / "hooks"
    (hooks / "on-modify-ttal").unlink()
    log.write_text("")
    _refused(box, second, "hooks are not installed")
    assert "_show" not in log.read_text()  # the warm check: stats, no `task` call for it
    box.ttal("doctor", "--fix", check=True)
    log.write_text("")
    assert "spawned worker" in box.ttal("go", second, check=True).stdout
    assert "_show" not in log.read_text()
    stamp = json.loads((box.sb.state_dir / "taskrc-ready.json").read_text())
    assert stamp["hooks"] == str(hooks)
