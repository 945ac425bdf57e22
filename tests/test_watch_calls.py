"""How many `task` calls a `ttal watch` pass makes (issue 14: each reads the whole history,
~250 ms at 25,000 tasks). Counted with tests/test_task_calls.py's `task` wrapper."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.test_task_calls import Counted, breakdown
from ttal.adapters import locks
from ttal.config.load import load_config
from ttal.engine.app import App


def test_a_watch_pass_leaves_a_held_task_to_its_holder_then_writes_again_what_it_lost(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """A task whose lock a ttal command holds is not re-read by the sweep (what looks lost
    is then mostly a write that command staged and makes when it ends), and the pass does
    not wait for it; once the lock is free, the next pass writes again what was lost. The
    sweep's own read of ttal's tasks is the evidence that Taskwarrior reads the user's
    data: no `task count` beside it (engine/reconcile.py)."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Watched while held", "project:api")
    box.ttal("go", uuid, check=True)
    session = box.get(uuid)["ttal_session"]
    # What a report's gc does on 2.6 (or a write not made yet): ttal's fact is not there.
    proc = box.task(uuid, "modify", "ttal_session:")
    assert proc.returncode == 0, proc.stderr
    counted = Counted(box, tmp_path)
    with locks.held(locks.task_lock(box.sb.state_dir / "locks", uuid)):
        box.ttal("watch", "--once", check=True, timeout=30)  # before: waited for the lock
        calls = counted.calls()
        assert not box.get(uuid).get("ttal_session"), "written while another held the task"
    exports = [args for _, _, args in calls if args.endswith(" export")]
    assert not [args for _, _, args in calls if args.endswith(" count")], breakdown(calls)
    # The sweep's read of the tasks ttal wrote, the read of the pending tasks to watch.
    assert len(exports) == 2 and len(calls) == 2, breakdown(calls)
    box.ttal("watch", "--once", check=True)
    assert box.get(uuid)["ttal_session"] == session
    assert by_hand.events(box, "write-reapplied", uuid), "the next pass wrote it again"


def test_a_write_recorded_while_the_sweep_compares_is_left_to_its_command(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """The sweep compares a task's row with ttal's writes without the task's lock; a ttal
    command holding that lock may record a write in the meantime (staged until it ends).
    The pass must settle only what it compared: writing the new one from here would write
    it outside its command's lock (before: it did, as "lost")."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Compared, then written", "project:api")
    box.ttal("go", uuid, check=True)
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    env = {"TTAL_PAUSE": "sweep.compared", "TTAL_PAUSE_DIR": str(pauses)}
    watch = subprocess.Popen([sys.executable, "-m", "ttal", "watch", "--once"],
                             env={**box.env, **env}, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: any(pauses.iterdir()), 60, "the pass between compare and settle")
        app = App(load_config(box.sb.config))
        [staged] = app.state.record_writes(uuid, [("ttal_health", "staged:by-its-command")])
    finally:
        (pauses / "go").touch()
    out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, out + err
    assert not box.get(uuid).get("ttal_health"), "written by the sweep, outside the lock"
    state = by_hand.rows(box, "SELECT state FROM tw_writes WHERE id = ?", staged)
    assert state == [("pending",)]
