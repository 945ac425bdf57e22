"""Messages at scale: a send reads the recipient's state and the head of its queue, never the
whole queue; a backlog goes out in bounded pieces, each typed in and recorded before the next,
exactly once and in order, across kills.

Cost is counted, not timed: SQLite's progress handler counts the virtual-machine steps of
every statement a send runs (rows read cost steps), and EXPLAIN QUERY PLAN shows each one
searches an index. The recipient of the backlog is tests/recorder.py in a real tmux pane.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.mesh_helpers import recorded, recorder_box, up, wait_body
from tests.test_config import broken
from ttal.commands import send
from ttal.commands.agents import report
from ttal.config.load import load_config
from ttal.config.model import Delivery
from ttal.config.parse import parse_config
from ttal.core.pipeline import Caller
from ttal.engine import mesh
from ttal.engine.app import App
from ttal.errors import ConfigError

QUEUED = 10_000
STEP = 10  # the progress handler runs every STEP virtual-machine instructions


def app_of(box: Box) -> App:
    return App(load_config(box.sb.config), caller=Caller())


def fill(app: App, to: str, count: int) -> None:
    for n in range(count):
        assert app.state.add_message("human", to, f"backlog {n}", f"fill:{to}:{n}")


class Cost:
    """The SQL a block runs on `db`: its statements, and how many VM steps they took."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.steps, self.statements = db, 0, list[str]()

    def __enter__(self) -> Cost:
        self.db.set_progress_handler(self._step, STEP)
        self.db.set_trace_callback(self.statements.append)
        return self

    def __exit__(self, *_: object) -> None:
        self.db.set_progress_handler(None, STEP)
        self.db.set_trace_callback(None)

    def _step(self) -> int:
        self.steps += STEP
        return 0  # go on


def sent_cost(app: App, to: str, body: str) -> Cost:
    with Cost(app.state.db) as cost:
        result = send.send(app, to, body)
    assert result.status == "queued", result
    return cost


def plans(db: sqlite3.Connection, statements: list[str]) -> list[str]:
    """The query plan of each SELECT on messages (their literal values bound in the trace)."""
    found = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT") and "messages" in sql:
            found += [f"{row[3]}  <- {sql[:90]}" for row in db.execute("EXPLAIN QUERY PLAN " + sql)]
    return found


def test_send_costs_the_same_with_ten_thousand_queued(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """Two recipients whose messages wait: one offline, one busy (its runtime said so)."""
    box = recorder_box(make_box, tmp_path / "rec", ["away", "busy"])
    up(box, "busy")
    app = app_of(box)
    report(app, "busy", agent="busy")
    empty = {to: sent_cost(app, to, f"first to {to}") for to in ("away", "busy")}
    for to in ("away", "busy"):
        fill(app, to, QUEUED)
    full = {to: sent_cost(app, to, f"then to {to}") for to in ("away", "busy")}

    for to in ("away", "busy"):
        queued = by_hand.rows(box, "SELECT COUNT(*) FROM messages WHERE recipient = ? AND "
                              "delivered_ts IS NULL", to)[0][0]  # fmt: skip
        assert queued == QUEUED + 2
        # Reading the queue of 10,000 took 220,160 steps before the fix; a send is ~150.
        assert full[to].steps <= empty[to].steps * 1.1 + 200, (to, empty[to].steps, full[to].steps)
        shown = plans(app.state.db, full[to].statements)
        assert shown and not [p for p in shown if p.startswith("SCAN")], shown
        assert not [p for p in shown if "TEMP B-TREE" in p], shown
    print(f"\nVM steps per send, 0 vs {QUEUED} queued: "
          + ", ".join(f"{to} {empty[to].steps} vs {full[to].steps}" for to in empty))  # fmt: skip


LIMITS = {"max_messages": 40, "max_bytes": 4096}


def body(n: int) -> str:
    """Short bodies (40 fit in 4096 bytes) then long ones: either limit ends a piece."""
    return f"b{n}" if n % 2000 < 1000 else f"backlog {n} " + "x" * (n % 9 * 40)


def deliver_in_child(box: Box, env: dict[str, str]) -> int:
    """`mesh.deliver` in a forked process with `env` set (a fault armed); its exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            os.environ.update(env)
            mesh.deliver(app_of(box), "mgr")
        finally:
            os._exit(0)
    return pid


def test_a_backlog_goes_out_in_bounded_pieces_once_and_in_order(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    limits = ", ".join(f"{k}: {v}" for k, v in LIMITS.items())
    box = recorder_box(make_box, out, ["mgr"], extra_yaml=f"delivery: {{{limits}}}")
    up(box, "mgr")
    app = app_of(box)
    ids = [mesh.post(app, "mgr", body(n)) for n in range(QUEUED)]
    assert ids == list(range(ids[0], ids[0] + QUEUED))
    log, pauses = box.sb.root / "faults.log", box.sb.root / "pauses"
    pauses.mkdir()

    # Killed as by kill -9 after its 5th piece went in, before it was recorded; then
    # before its 3rd piece was typed; then a real SIGKILL while the 4th is typed in.
    for point in ("deliver.pasted@5", "deliver.attempted@3"):
        pid = deliver_in_child(box, {"TTAL_FAULT": point, "TTAL_FAULT_LOG": str(log)})
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 137, point
    pid = deliver_in_child(box, {"TTAL_PAUSE": "deliver.pasted@4",
                                 "TTAL_PAUSE_DIR": str(pauses)})  # fmt: skip
    wait_for(lambda: (pauses / f"deliver.pasted.{pid}").exists(), 60, "the 4th piece")
    os.kill(pid, signal.SIGKILL)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == -signal.SIGKILL
    half = by_hand.rows(box, "SELECT COUNT(*) FROM messages WHERE delivered_ts IS NOT NULL")
    assert 0 < half[0][0] < QUEUED  # mid-backlog

    assert mesh.deliver(app, "mgr") > 0  # recovers, and types in the rest
    wait_body(out / "mgr.hex", ids[-1], timeout=120)

    headers = [line for line in recorded(out / "mgr.hex") if line.startswith(b"[ttal #")]
    typed = [int(line.split(b"#")[1].split()[0]) for line in headers]
    twice = [i for i, count in Counter(typed).items() if count > 1]
    assert (sorted(set(ids) - set(typed)), twice) == ([], [])
    assert typed == ids  # in order
    assert len(log.read_text(encoding="utf-8").splitlines()) == 2

    pieces: dict[str, list[int]] = defaultdict(list)
    for message_id, attempt in by_hand.rows(box, "SELECT id, attempt FROM messages"):
        pieces[attempt].append(message_id)
    assert "" not in pieces  # every message went in with a marked paste
    sizes = {a: sum(len(mesh._render_one(app, app.state.message(i)).encode()) + 1  # type: ignore[arg-type]
                    for i in got) for a, got in pieces.items()}  # fmt: skip
    counts = Counter(len(got) for got in pieces.values())
    assert max(counts) == LIMITS["max_messages"] and min(counts) < LIMITS["max_messages"]
    assert max(sizes.values()) <= LIMITS["max_bytes"]
    assert len(pieces) >= QUEUED * 100 // LIMITS["max_bytes"]  # ~100 bytes a message at least
    print(f"\n{QUEUED} messages in {len(pieces)} pieces (largest {max(sizes.values())} bytes, "
          f"{max(len(g) for g in pieces.values())} messages), 3 deliveries killed: "
          "0 lost, 0 twice, in order")  # fmt: skip


def test_a_recipient_that_reports_gets_one_piece_per_idle(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """Pieces typed in back to back would reach an agent as one prompt all the same: one
    whose runtime reports idle and busy gets the next piece when it says idle again."""
    box = recorder_box(make_box, tmp_path / "rec", ["mgr"],
                       extra_yaml="delivery: {max_messages: 5}")  # fmt: skip
    up(box, "mgr")
    app = app_of(box)
    report(app, "idle", agent="mgr")  # as its runtime's hook says it
    ids = [mesh.post(app, "mgr", f"m{n}") for n in range(12)]
    got = [mesh.deliver(app, "mgr"), mesh.deliver(app, "mgr")]
    got += [report(app, "idle", agent="mgr").delivered for _ in range(3)]
    assert got == [5, 0, 5, 2, 0]
    wait_body(tmp_path / "rec" / "mgr.hex", ids[-1])


def test_an_idle_said_while_a_piece_goes_in_is_kept(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """A fast runtime reads a piece and says idle before the delivery has looked at its
    status again: that idle must stand (the next piece follows), not be overwritten by the
    delivery's hold, which would keep the rest waiting PIECE_LIMIT (60 s) for a report that
    already came (the soak test's stall)."""
    box = recorder_box(make_box, tmp_path / "rec", ["mgr"],
                       extra_yaml="delivery: {max_messages: 5}")  # fmt: skip
    up(box, "mgr")
    app = app_of(box)
    report(app, "idle", agent="mgr")
    ids = [mesh.post(app, "mgr", f"m{n}") for n in range(12)]
    pauses = box.sb.root / "pauses"
    pauses.mkdir()
    pid = deliver_in_child(box, {"TTAL_PAUSE": "deliver.pasted@1", "TTAL_PAUSE_DIR": str(pauses)})
    try:
        wait_for(lambda: (pauses / f"deliver.pasted.{pid}").exists(), 60, "the 1st piece")
        held = app.state.status("mgr")
        assert held is not None and (held.state, held.source) == ("busy", mesh.PIECE_SOURCE)
        # What `ttal report idle` records (its delivery would wait on the paused one's lock).
        app.state.set_status("mgr", "idle", "runtime")
    finally:
        (pauses / "go").touch()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    delivered = "SELECT COUNT(*) FROM messages WHERE delivered_ts IS NOT NULL"
    assert by_hand.rows(box, delivered)[0][0] == 10  # the idle let the 2nd piece follow
    assert mesh.deliver(app, "mgr") == 0  # held for the 2nd piece's turn, as it should be
    assert report(app, "idle", agent="mgr").delivered == 2
    now = app.state.status("mgr")
    assert now is not None and (now.state, now.source) == ("idle", "runtime")  # released
    wait_body(tmp_path / "rec" / "mgr.hex", ids[-1])


@pytest.mark.parametrize(
    ("delivery", "key"),
    [
        pytest.param({"max_messages": 0}, "delivery.max_messages", id="no-messages"),
        pytest.param({"max_bytes": 100}, "delivery.max_bytes", id="smaller-than-a-message"),
        pytest.param({"max_bytes": "32k"}, "delivery.max_bytes", id="not-a-number"),
        pytest.param({"max_bytes": True}, "delivery.max_bytes", id="a-boolean"),
        pytest.param({"pieces": 3}, "delivery", id="unknown-key"),
    ],
)
def test_bad_delivery_limits_name_file_and_key(
    tmp_path: Path, delivery: dict[str, object], key: str
) -> None:
    path = tmp_path / "ttal.yaml"
    with pytest.raises(ConfigError) as caught:
        parse_config(broken(lambda data: data.update(delivery=delivery)), path)
    assert caught.value.message.startswith(f"{path}: {key}"), caught.value.message
    assert caught.value.hint


def test_delivery_limits_default_and_parse(tmp_path: Path) -> None:
    path = tmp_path / "ttal.yaml"
    assert parse_config(broken(lambda data: None), path).delivery == Delivery()
    cfg = parse_config(broken(lambda d: d.update(delivery={"max_messages": 3})), path)
    assert cfg.delivery == Delivery(max_messages=3, max_bytes=Delivery().max_bytes)
