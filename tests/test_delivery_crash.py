"""Kills during delivery, then recovery: every message reaches its recipient once.

Each body mentions the next message's header (`[ttal #<next id> from human]`), the text that
crash recovery once took as proof that an interrupted paste had landed: a message whose
paste a kill interrupted was then marked delivered and never typed (issue 15, finding 4).
The recipient is tests/recorder.py. Deliveries run in-process, and a seeded share of them in
a forked process that dies at a delivery fault point (ttal.faults.DELIVERY_POINTS, as by
kill -9) or is sent SIGKILL at a random time; a fork, not `ttal deliver`, keeps the test to
seconds. The next delivery recovers. TTAL_SOAK=1 runs 1,000 messages instead of 40.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.conftest import Box
from tests.mesh_helpers import body_of, recorded, recorder_box, up, wait_body
from ttal.config.load import load_config
from ttal.core.pipeline import Caller
from ttal.engine import mesh
from ttal.engine.app import App
from ttal.faults import DELIVERY_POINTS

TOTAL = 1000 if os.environ.get("TTAL_SOAK") == "1" else 40
KILL_SHARE = 0.35
KILLED = 137


def body(n: int, next_id: int) -> str:
    return (f"message {n}; then comes [ttal #{next_id} from human], as in\n"
            f"[ttal #{next_id} from human]\n[ttal #{next_id} from ")  # fmt: skip


def deliver_killed_at(box: Box, point: str, log: Path) -> int:
    """Deliver in a child process armed to die at `point`; returns its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: its own App and database connection, never the parent's
        try:
            os.environ.update(TTAL_FAULT=point, TTAL_FAULT_LOG=str(log))
            mesh.deliver(App(load_config(box.sb.config), caller=Caller()), "mgr")
        finally:
            os._exit(0)  # not killed: the point was never reached
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def deliver_killed_after(box: Box, seconds: float) -> bool:
    """Deliver in a child process sent SIGKILL after `seconds`; True if it was killed
    before it finished."""
    pid = os.fork()
    if pid == 0:
        try:
            mesh.deliver(App(load_config(box.sb.config), caller=Caller()), "mgr")
        finally:
            os._exit(0)
    time.sleep(seconds)
    os.kill(pid, signal.SIGKILL)  # a no-op on a child that ended (not yet reaped)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == -signal.SIGKILL


def test_kills_during_delivery_lose_nothing_and_type_nothing_twice(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    box = recorder_box(make_box, out, ["mgr"])
    up(box, "mgr")
    app = App(load_config(box.sb.config), caller=Caller())
    rng, fired = random.Random(15), Counter[str]()
    log = box.sb.root / "faults.log"
    ids: list[int] = []
    for n in range(TOTAL):
        expected = int(by_hand.rows(box, "SELECT COALESCE(MAX(id), 0) FROM messages")[0][0]) + 1
        ids.append(mesh.post(app, "mgr", body(n, expected + 1)))
        assert ids[-1] == expected
        if rng.random() < KILL_SHARE:
            point = rng.choice([*DELIVERY_POINTS, "random time"])
            if point == "random time":
                killed = deliver_killed_after(box, rng.uniform(0.0, 0.03))
                fired["random time" if killed else "random time, finished first"] += 1
            else:
                assert deliver_killed_at(box, point, log) == KILLED, point
                fired[point] += 1
        else:
            mesh.deliver(app, "mgr")
    mesh.deliver(app, "mgr")  # recovers the last one, if it was killed
    wait_body(out / "mgr.hex", ids[-1])

    lines = recorded(out / "mgr.hex")
    headers = Counter(line for line in lines if line.startswith(b"[ttal #"))
    typed = {i: headers[f"[ttal #{i} from human]".encode()] for i in ids}
    lost = [i for i, count in typed.items() if count == 0]
    twice = [i for i, count in typed.items() if count > 1]
    assert (lost, twice) == ([], []), f"lost {lost}, typed twice {twice}"
    assert set(DELIVERY_POINTS) < set(fired), fired
    named = sum(fired[p] for p in DELIVERY_POINTS)
    assert named == len(log.read_text(encoding="utf-8").splitlines())
    quoted = ["message {n}; then comes [ttal #{next} from human], as in",
              "> [ttal #{next} from human]", "> [ttal #{next} from "]  # fmt: skip
    for n, message_id in enumerate(ids):
        want = [line.format(n=n, next=message_id + 1) for line in quoted]
        assert body_of(lines, message_id) == want
    print(f"\n{TOTAL} messages, {sum(fired.values())} deliveries killed ({dict(fired)}): "
          "0 lost, 0 twice")  # fmt: skip
