from __future__ import annotations

import os
import subprocess

from tests.conftest import Box, wait_for


def test_task_goes_from_pending_to_merged(box: Box) -> None:
    uuid = box.add("Write notes", "project:web")
    proc = box.ttal("go", uuid, check=True)
    assert "spawned worker" in proc.stdout
    wait_for(lambda: box.get(uuid)["status"] == "completed", what="merge")
    task = box.get(uuid)
    assert {"coded", "reviewing", "lgtm", "merged"} <= set(task["tags"])
    assert "notes/" in box.git("web", "log", "--stat", "-1", "main^2")
    wait_for(lambda: not box.sessions(), what="sessions cleaned up")
    _written_by_the_chosen_taskwarrior(box)


def _written_by_the_chosen_taskwarrior(box: Box) -> None:
    """Everything that wrote the store (the test, ttal, its workers) used the `task` the header
    names: a 2.x writer on 3.x data would leave pending.data beside the SQLite database."""
    version = subprocess.run(["task", "--version"], capture_output=True, text=True).stdout
    major = version.strip().split(".")[0]
    assert major == os.environ.get("TTAL_TEST_TASK_MAJOR", major), version
    files = {p.name for p in box.sb.task_data.iterdir()}
    assert ("taskchampion.sqlite3" in files) == (major == "3"), (version, files)
    assert ("pending.data" in files) == (major == "2"), (version, files)
