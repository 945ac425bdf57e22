"""The warm server under a burst: at most TTAL_SERVER_CHILDREN children at once, the rest
wait their turn, and every command still gets its own answer.

200 `ttal send` at once to an offline manager, each with its own body; the process tree
of the server is read from /proc all along (children alive, RSS summed). Before issue 14
the server forked one child per request at once: 92-100 alive in a burst of 50, ~600 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.mesh_helpers import recorder_box, up
from tests.test_server import alive, runtime_dir, served_env, start, status, ttal

__all__ = ["runtime_dir"]  # a fixture, used by name

BURST = int(os.environ.get("TTAL_TEST_BURST", "200"))
LIMIT = 4


def tree(root: int) -> dict[int, int]:
    """pid -> RSS in kB of `root` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += [p for p, parent in parents.items() if parent == pid and p not in found]
    return {pid: rss for pid in found if (rss := _rss(pid))}


def _rss(pid: int) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)


class Sampler(threading.Thread):
    """The server's tree, read again and again until stopped: its peaks."""

    def __init__(self, server: int) -> None:
        super().__init__(daemon=True)
        self.server, self.done = server, threading.Event()
        self.peak_children = self.peak_rss = self.samples = 0

    def run(self) -> None:
        while not self.done.is_set():
            found = tree(self.server)
            children = [p for p in found if p != self.server and _parent(p) == self.server]
            self.peak_children = max(self.peak_children, len(children))
            self.peak_rss = max(self.peak_rss, sum(found.values()))
            self.samples += 1
            self.done.wait(0.01)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def send(env: dict[str, str], body: str, to: str = "mgr") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ttal", "send", "--to", to, "--json", "--", body],
        env=env, cwd=env["TTAL_RUNTIME_DIR"], text=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
def box(make_box: Callable[..., Box], tmp_path: Path) -> Box:
    return recorder_box(make_box, tmp_path / "rec", ["mgr", "live"])  # mgr never up: queued


@pytest.fixture
def env(box: Box, runtime_dir: Path) -> Iterator[dict[str, str]]:
    env = served_env(box, runtime_dir, TTAL_SERVER_CHILDREN=str(LIMIT))
    info = start(env)
    yield env
    ttal(env, "server", "stop")
    wait_for(lambda: not alive(info["pid"]), 10, "the server to leave")


def test_a_burst_of_200_commands_stays_bounded_and_each_gets_its_answer(
    box: Box, env: dict[str, str]
) -> None:
    before = status(env)
    server = before["pid"]
    assert before["max_children"] == LIMIT
    idle_rss = sum(tree(server).values())
    sampler = Sampler(server)
    sampler.start()
    started = time.monotonic()
    procs = [send(env, f"burst {n}") for n in range(BURST)]
    answers = [p.communicate(timeout=600) for p in procs]
    took = time.monotonic() - started
    sampler.done.set()
    sampler.join()

    bad = [(p.returncode, err) for p, (_, err) in zip(procs, answers, strict=True) if p.returncode]
    assert not bad, bad[:3]
    ids = [json.loads(out)["id"] for out, _ in answers]
    bodies = dict(by_hand.rows(box, "SELECT id, body FROM messages WHERE recipient = 'mgr'"))
    assert [bodies[i] for i in ids] == [f"burst {n}" for n in range(BURST)]  # each its own
    after = status(env)
    assert after["commands_served"] - before["commands_served"] == BURST  # none ran elsewhere
    assert after["peak_children"] <= LIMIT and sampler.peak_children <= LIMIT, (
        after, sampler.peak_children)  # fmt: skip
    # A child is a fork of the server: its RSS counts the server's pages again. Unbounded,
    # 200 children would sum to ~200 times the server's.
    bound = (LIMIT + 1) * idle_rss * 1.5
    assert sampler.peak_rss <= bound, (sampler.peak_rss, idle_rss)
    print(f"\n{BURST} sends at once: peak {after['peak_children']} children (limit {LIMIT}), "
          f"tree RSS peak {sampler.peak_rss // 1024} MB (server idle {idle_rss // 1024} MB), "
          f"{sampler.samples} samples, {took:.1f} s")  # fmt: skip


def test_waiting_commands_start_in_the_order_they_came(
    box: Box, env: dict[str, str], tmp_path: Path
) -> None:
    """With the one child slot held (a send paused inside its delivery), later commands
    wait; released, they run one by one in the order they arrived (their message ids)."""
    up(box, "live")
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    limit_one = {**env, "TTAL_SERVER_CHILDREN": "1"}
    ttal(env, "server", "stop")
    wait_for(lambda: not status(env)["running"], 10, "the first server to leave")
    start(limit_one)
    held = send({**limit_one, "TTAL_PAUSE": "deliver.attempted",
                 "TTAL_PAUSE_DIR": str(pauses)}, "holds the slot", to="live")  # fmt: skip
    wait_for(lambda: list(pauses.glob("deliver.attempted.*")), 60, "the send to pause")
    queued = []
    for n in range(5):
        queued.append(send(limit_one, f"in order {n}"))
        wait_for(lambda n=n: status(env)["commands_waiting"] == n + 1, 60, f"{n + 1} waiting")
    assert status(env)["commands_running"] == 1
    (pauses / "go").touch()
    assert held.wait(timeout=60) == 0
    ids = [json.loads(p.communicate(timeout=120)[0])["id"] for p in queued]
    assert ids == sorted(ids) and len(set(ids)) == 5, ids
    assert status(env)["peak_children"] == 1
