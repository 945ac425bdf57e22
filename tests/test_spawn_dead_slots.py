"""A spawner killed mid-spawn (kill -9, a crash) never frees its slot, a row in `spawning`.

Whoever looks next (the next spawn's count, a watch pass, `ttal recover`) frees it, with an
event, once its process is gone and its task's lock is free. A live spawner's slot is
never freed: not while it is held inside its spawn, and not when it runs in another pid
namespace, where the pid it recorded names some other process of ours.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.test_spawn_parallel import Popen, finish, go, limited_box, workers
from ttal.errors import Exit

KILLED = 137


def slots(box: Box) -> list[str]:
    return [task for (task,) in by_hand.rows(box, "SELECT task FROM spawning ORDER BY task")]


def set_max_workers(box: Box, total: int) -> None:
    cfg = yaml.safe_load(box.sb.config.read_text(encoding="utf-8"))
    cfg["limits"]["max_workers"] = total
    box.sb.config.write_text(yaml.safe_dump(cfg), encoding="utf-8")


def pane_pid(box: Box, session: str) -> str:
    proc = subprocess.run(["tmux", "-L", box.sb.socket, "display", "-p", "-t", session,
                           "#{pane_pid}"], capture_output=True, text=True, check=True)  # fmt: skip
    return proc.stdout.strip()


def spawned(box: Box, uuid: str) -> int:
    return len(by_hand.events(box, "spawned", uuid))


def held_in_spawn(box: Box, uuid: str, pauses: Path, prefix: tuple[str, ...] = ()) -> Popen:
    """`ttal go uuid`, held inside its spawn (its slot taken, no worktree yet)."""
    env = {**box.env, "TTAL_PAUSE": "spawn.facts", "TTAL_PAUSE_DIR": str(pauses)}
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "ttal", "go", uuid, "--json"], env=env, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_for(lambda: list(pauses.glob("spawn.facts.*")), 60, "the spawn to pause")
    return proc


@pytest.mark.parametrize("point", ["spawn.facts", "spawn.worktree"], ids=["facts", "worktree"])
def test_the_next_spawn_frees_a_killed_spawners_slot(
    make_box: Callable[..., Box], tmp_path: Path, point: str
) -> None:
    box = limited_box(make_box, tmp_path, total=1, api=1)
    killed, other = box.add("Killed", "project:api"), box.add("Other", "project:web")
    code, out = finish(go(box, killed, {"TTAL_FAULT": point}))
    assert code == KILLED, out
    assert slots(box) == [killed] and workers(box) == []

    # The limit is 1 and no worker runs: the other task spawns at once, and its count
    # frees the dead slot (before: the row stayed, seen by nobody).
    code, out = finish(go(box, other))
    assert code == 0 and "spawned worker" in out, out
    assert slots(box) == []
    [freed] = by_hand.events(box, "spawn-slot-freed", killed)
    assert freed.startswith(f"w-{killed[:8]}: its spawner (pid ") and "died mid-spawn" in freed

    code, out = finish(go(box, killed))  # the one slot is the other's now: it waits
    assert code == Exit.WAITING and "max_workers" in out, out
    set_max_workers(box, 2)
    code, out = finish(go(box, killed))  # resumes its spawn: one worktree, one session
    assert code == 0 and "spawned worker" in out, out
    assert sorted(workers(box)) == sorted(f"w-{u[:8]}" for u in (killed, other))
    assert len(by_hand.worktrees(box, "api")) == 1 and spawned(box, killed) == 1
    assert box.get(killed)["ttal_session"] == f"w-{killed[:8]}"
    assert slots(box) == [] and len(by_hand.events(box, "spawn-slot-freed")) == 1


def test_a_spawner_killed_after_starting_its_session(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """Its worker runs though its task does not name it yet: the project's limit still
    counts it (before: the slot stopped counting and the task did not name the session, so
    a second worker started in a project of max_workers 1), and its `ttal go` adopts it."""
    box = limited_box(make_box, tmp_path, total=8, api=1)
    killed, other = box.add("Killed", "project:api"), box.add("Other", "project:api")
    code, out = finish(go(box, killed, {"TTAL_FAULT": "spawn.session"}))
    assert code == KILLED, out
    session = f"w-{killed[:8]}"
    assert workers(box) == [session] and not box.get(killed).get("ttal_session")
    pid = pane_pid(box, session)

    code, out = finish(go(box, other))
    assert code == Exit.WAITING and "workers running in api" in out, out
    assert workers(box) == [session] and slots(box) == []  # its count freed the dead slot
    assert len(by_hand.events(box, "spawn-slot-freed", killed)) == 1

    code, out = finish(go(box, killed))
    assert code == 0, out
    assert workers(box) == [session] and pane_pid(box, session) == pid  # the same agent
    assert box.get(killed)["ttal_session"] == session and slots(box) == []
    assert len(by_hand.worktrees(box, "api")) == 1


def respawn_held(box: Box, uuid: str, pauses: Path, prefix: tuple[str, ...] = ()) -> Popen:
    """Spawn `uuid`'s worker, end its session, then hold its `ttal go` inside the respawn.
    (A first spawn held there would hold up `ttal recover`: it writes again the spawn's
    facts, decided and not yet on the task, under the task's lock, engine/reconcile.py.)"""
    code, out = finish(go(box, uuid))
    assert code == 0 and "spawned worker" in out, out
    subprocess.run(["tmux", "-L", box.sb.socket, "kill-session", "-t", f"w-{uuid[:8]}"],
                   check=True)  # fmt: skip
    return held_in_spawn(box, uuid, pauses, prefix)


def freed_by_recover(box: Box) -> list[str]:
    recovered = json.loads(box.ttal("recover", "--json", check=True).stdout)
    return [r["task"] for r in recovered if r["action"] == "spawn.slot"]


def test_watch_and_recover_free_dead_slots_and_never_a_live_one(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = limited_box(make_box, tmp_path, total=8, api=8)
    live, killed = box.add("Live", "project:api"), box.add("Killed", "project:api")
    code, out = finish(go(box, killed, {"TTAL_FAULT": "spawn.facts"}))
    assert code == KILLED, out
    box.ttal("watch", "--once", check=True)  # a watch pass frees it
    assert slots(box) == [] and len(by_hand.events(box, "spawn-slot-freed", killed)) == 1
    box.ttal("watch", "--once", check=True)
    assert len(by_hand.events(box, "spawn-slot-freed")) == 1

    # `ttal recover` frees a dead slot (and says so), never a live one. (A watch pass would
    # restart the live one's ended session: its `ttal go` waits for the held one.)
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    held = respawn_held(box, live, pauses)
    code, out = finish(go(box, killed, {"TTAL_FAULT": "spawn.facts"}))
    assert code == KILLED, out
    assert slots(box) == sorted([live, killed])
    assert freed_by_recover(box) == [killed]
    assert freed_by_recover(box) == [] and slots(box) == [live]

    (pauses / "go").touch()
    code, out = finish(held)
    assert code == 0 and "spawned worker" in out, out
    assert slots(box) == [] and by_hand.events(box, "spawn-slot-freed", live) == []


def unshare() -> list[str]:
    """Run a command in a pid namespace of its own (pid 1 there), killed with `unshare`."""
    return ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]


@pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which("unshare"),
    reason="a pid namespace of its own takes root and unshare (util-linux)",
)
def test_a_spawner_in_another_pid_namespace_keeps_its_slot(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """Its recorded pid names another process here (or none): its task's lock, held, says
    it is under way. Before: its slot stopped counting, and a second worker started with
    max_workers 1."""
    box = limited_box(make_box, tmp_path, total=1, api=1)
    live, other = box.add("Live", "project:api"), box.add("Other", "project:web")
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    held = respawn_held(box, live, pauses, prefix=tuple(unshare()))
    [(pid,)] = by_hand.rows(box, "SELECT pid FROM spawning")
    assert pid == 1  # its pid in its own namespace

    code, out = finish(go(box, other))
    assert code == Exit.WAITING and "max_workers" in out, out
    box.ttal("recover", check=True)
    assert slots(box) == [live] and workers(box) == []

    held.kill()  # unshare: its child, the spawner, is killed with it
    held.communicate(timeout=30)
    code, out = finish(go(box, other))
    assert code == 0 and "spawned worker" in out, out
    assert slots(box) == [] and len(by_hand.events(box, "spawn-slot-freed", live)) == 1
