"""Limits and spacing: work beyond them waits in a queue, in order, and `ttal deliver`
(which `ttal watch` runs) starts it once it may go."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.by_hand import idle_box
from tests.conftest import Box, wait_for
from ttal.errors import Exit


def limited_box(make_box: Callable[..., Box], tmp_path: Path, **project: float) -> Box:
    box = idle_box(make_box, tmp_path)
    cfg = yaml.safe_load(box.sb.config.read_text(encoding="utf-8"))
    cfg["projects"]["api"].update(project)
    box.sb.config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return box


def queue(box: Box) -> list[dict[str, object]]:
    data = json.loads(box.ttal("status", "--json", check=True).stdout)
    return list(data["queue"])


def test_project_max_workers_queues_in_order(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = limited_box(make_box, tmp_path, max_workers=1)
    first, second, third = (box.add(f"Task {n}", "project:api") for n in range(3))
    other = box.add("Elsewhere", "project:web")
    box.ttal("go", first, check=True)
    for n, uuid in enumerate((second, third), 1):
        proc = box.ttal("go", uuid)
        assert proc.returncode == Exit.WAITING, proc.stdout + proc.stderr
        assert f"queued (position {n})" in proc.stdout
        assert "max_workers" in proc.stdout or "earlier task" in proc.stdout
    assert box.ttal("go", other).returncode == 0  # another project is not held up
    assert [q["task"] for q in queue(box)] == [second, third]
    assert f"w-{second[:8]}" not in box.sessions()

    box.ttal("deliver", "--once", check=True)  # still full: nothing starts
    assert f"w-{second[:8]}" not in box.sessions()

    box.task(first, "done")  # the first one finishes; its worker goes

    subprocess.run(["tmux", "-L", box.sb.socket, "kill-session", "-t", f"=w-{first[:8]}"])
    box.ttal("deliver", "--once", check=True)
    assert f"w-{second[:8]}" in box.sessions()  # in order: the second, not the third
    assert f"w-{third[:8]}" not in box.sessions()
    assert [q["task"] for q in queue(box)] == [third]


def test_spawn_spacing_per_project(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box = limited_box(make_box, tmp_path, spawn_spacing=2)
    first, second = box.add("One", "project:api"), box.add("Two", "project:api")
    box.ttal("go", first, check=True)
    started = time.monotonic()
    proc = box.ttal("go", second)
    assert proc.returncode == Exit.WAITING and "spawn spacing of project api" in proc.stdout
    wait_for(
        lambda: box.ttal("deliver", "--once") and f"w-{second[:8]}" in box.sessions(),
        timeout=20,
        what="the queued spawn after the spacing",
    )
    assert time.monotonic() - started >= 1.5
    assert queue(box) == []
