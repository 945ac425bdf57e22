"""Soak: 10 managers, 1,000 messages from several senders, recipients killed and restarted
at random throughout. Every message must reach its recipient's program exactly once, in
each sender's order.

"Exactly once" is judged where it matters, in the recipient's program: a message typed into
a pane whose program is killed before reading it is lost to it, whatever the pane showed.
So the recipients here acknowledge what they have read (tests/recorder.py --acks, as a
runtime hook would with `ttal ack`), ttal types what died unacknowledged into the next
pane, and the recipient drops ids it has already recorded. Messages are sent in-process
(ttal.engine.mesh.post + deliver, what `ttal send` runs) to fit a normal test run.

TTAL_SOAK_MESSAGES scales it (default 1000).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.mesh_helpers import body_of, recorded, recorder_box, up
from ttal.commands import agents
from ttal.config.load import load_config
from ttal.core.pipeline import Caller
from ttal.engine import mesh
from ttal.engine.app import App

pytestmark = pytest.mark.soak

MANAGERS = [f"m{i}" for i in range(10)]
SENDERS = ["human", "m0", "m3", "m6", "m9"]  # a person and managers, one thread each
TOTAL = int(os.environ.get("TTAL_SOAK_MESSAGES", "1000"))
# Seconds between one sender's messages at most: sending alone takes ~3 s, too short for
# the killer to restart many recipients; paced, the run spans ~8 s and some 30 restarts.
PACE = 0.08


def app_as(box: Box, name: str) -> App:
    """A fresh App (its own SQLite connection: one per thread) acting as `name`."""
    caller = Caller() if name == "human" else Caller(name=name, role="manager")
    return App(load_config(box.sb.config), caller=caller)


def body(sender: str, seq: int, to: str) -> str:
    return f"soak {sender}->{to} #{seq}\nsecond line of {sender} #{seq}"


def send_many(
    box: Box, sender: str, count: int, seed: int, log: list[tuple[str, str, int]]
) -> None:
    app, rng = app_as(box, sender), random.Random(seed)
    for seq in range(count):
        to = rng.choice([m for m in MANAGERS if m != sender])
        message_id = mesh.post(app, to, body(sender, seq, to))
        assert message_id, "a fresh body was taken for a resend"
        log.append((to, sender, message_id))
        mesh.deliver(app, to)
        time.sleep(rng.uniform(0, PACE))


def restart_at_random(box: Box, stop: threading.Event, kills: Counter[str]) -> None:
    """Kill a recipient abruptly (tmux kill-session) or politely (`ttal down`), then bring
    it back with `ttal up`, over and over, while messages flow."""
    app, rng = app_as(box, "human"), random.Random(7)
    while not stop.wait(rng.uniform(0.05, 0.3)):
        victim = rng.choice(MANAGERS)
        if rng.random() < 0.5:
            app.tmux.kill(victim)
            kills["kill-session"] += 1
        else:
            agents.down(app, [victim])
            kills["ttal down"] += 1
        if stop.wait(rng.uniform(0.0, 0.2)):
            break
        agents.up(app, [victim])


def test_thousand_messages_exactly_once_through_restarts(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    box = recorder_box(make_box, out, MANAGERS, acks=True)
    up(box)
    sent: list[tuple[str, str, int]] = []
    stop, kills = threading.Event(), Counter[str]()
    errors: list[BaseException] = []
    killer = _thread(errors, restart_at_random, box, stop, kills)
    per_sender = TOTAL // len(SENDERS)
    senders = [_thread(errors, send_many, box, s, per_sender, i, sent)
               for i, s in enumerate(SENDERS)]  # fmt: skip
    start = time.monotonic()
    killer.start()
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(timeout=120)
    stop.set()
    killer.join(timeout=60)
    assert not errors, errors
    assert len(sent) == per_sender * len(SENDERS)
    assert sum(kills.values()) >= 10, f"too few restarts to prove anything: {dict(kills)}"

    app = app_as(box, "human")
    agents.up(app, [])  # whoever the killer left down

    def settled() -> bool:
        agents.deliver_all(app)
        return _count(box, "acked_ts IS NOT NULL") == len(sent)

    wait_for(settled, 60, "every message acknowledged")
    elapsed = time.monotonic() - start

    got = {name: _records(out / f"{name}.msgs") for name in MANAGERS}
    firsts = Counter(mid for records in got.values() for kind, mid in records if kind == "MSG")
    dups = sum(kind == "DUP" for records in got.values() for kind, _ in records)
    by_id = {mid: (to, sender) for to, sender, mid in sent}
    assert set(firsts) == set(by_id), "lost or unknown messages"
    assert max(firsts.values()) == 1, "recorded twice"
    for name, records in got.items():
        mine = [mid for kind, mid in records if kind == "MSG"]
        assert all(by_id[mid][0] == name for mid in mine), f"{name} got someone else's"
        order: dict[str, list[int]] = defaultdict(list)
        for mid in mine:
            order[by_id[mid][1]].append(mid)
        assert all(ids == sorted(ids) for ids in order.values()), f"{name}: out of order"
        lines = recorded(out / f"{name}.hex")
        for mid in mine[:: max(1, len(mine) // 10)]:  # bodies, byte for byte, on a sample
            _, sender = by_id[mid]
            seq = _seq_of(box, mid)
            assert body_of(lines, mid) == body(sender, seq, name).split("\n")
    requeued = sum(len(json.loads(d.split(": ", 1)[1])) for d in by_hand.events(box, "requeued"))
    print(f"\nsoak: {len(sent)} messages to {len(MANAGERS)} managers in {elapsed:.1f}s; "
          f"{sum(kills.values())} kills ({dict(kills)}); {requeued} re-deliveries after a "
          f"restart; {dups} duplicates dropped by recipients; 0 lost, 0 twice")  # fmt: skip


def _thread(
    errors: list[BaseException], target: Callable[..., None], *args: Any
) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        except BaseException as err:  # a thread's failure must fail the test
            errors.append(err)

    return threading.Thread(target=run)


def _count(box: Box, where: str) -> int:
    return int(by_hand.rows(box, f"SELECT COUNT(*) FROM messages WHERE {where}")[0][0])


def _records(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return [(w[0], int(w[1])) for w in (line.split() for line in path.read_text().splitlines())]


def _seq_of(box: Box, message_id: int) -> int:
    text = by_hand.rows(box, "SELECT body FROM messages WHERE id = ?", message_id)[0][0]
    return int(text.split("\n")[0].rsplit("#", 1)[1])
