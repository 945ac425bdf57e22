"""`ttal history`: each branch in flight against its base, and what the merges of finished
tasks brought in, read with tasklib and GitPython. Real task, git and tmux."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import by_hand
from tests.by_hand import commit, reviewer_env, worker_env
from tests.conftest import Box, wait_for
from ttal.errors import Exit


def history(box: Box, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(box.ttal("history", "--json", *args, check=True).stdout)
    return data


def test_history_measures_branches_in_flight_and_finished_merges(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    done = box.add("Write the notes", "project:api")
    box.ttal("go", done, check=True)
    commit(box, done, "notes.md", "# notes\nfirst\n", "Write the notes")
    box.ttal("go", done, env=worker_env(done), check=True)
    box.ttal("review", "approve", env=reviewer_env(done), check=True)
    wait_for(lambda: box.get(done)["status"] == "completed", what="the merge")

    live = box.add("Retitle the site", "project:web")
    box.ttal("go", live, check=True)
    commit(box, live, "about.txt", "one\ntwo\nthree\n", "Add about")
    commit(box, live, "README.md", "# web site\n", "Retitle")
    box.add("Never spawned", "project:web")  # no branch: not ttal's work yet

    data = history(box)
    [flight] = data["in_flight"]
    assert flight["uuid"] == live and flight["branch"] == box.get(live)["ttal_branch"]
    assert flight["ahead"] == 2
    assert flight["change"] == {"files": 2, "insertions": 4, "deletions": 1}
    [finished] = data["finished"]
    assert finished["uuid"] == done and finished["project"] == "api"
    assert finished["change"] == {"files": 1, "insertions": 2, "deletions": 0}
    assert finished["took_s"] >= 0 and finished["ended"]

    assert history(box, "--project", "web")["finished"] == []
    table = box.ttal("history", check=True).stdout
    assert "2 file(s) +4 -1" in table and "1 file(s) +2 -0" in table
    assert f"{live[:8]}" in table and "Never spawned" not in table


def test_history_refuses_a_bad_window(box: Box) -> None:
    proc = box.ttal("history", "--days", "0")
    assert proc.returncode == Exit.USAGE, proc.stderr
    assert "--days must be 1 or more" in proc.stderr
