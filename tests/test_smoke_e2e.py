from __future__ import annotations

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
