"""The watchdog in-process, where the test holds the clock and the signals: two dirty episodes
within one second are each warned about, and a ^C during a pass of `ttal watch`'s loop waits
for that pass to be done and reported (issue 10). Real task, git and tmux."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import by_hand
from tests.conftest import Box
from tests.test_watch import reported_idle, started, tmux, to_human
from ttal.commands.watch import Row, watch_loop
from ttal.config.load import load_config
from ttal.core.pipeline import Caller
from ttal.engine import watch_pass
from ttal.engine.app import App


def in_process(box: Box, monkeypatch: pytest.MonkeyPatch) -> Callable[[], App]:
    """An App acting as a person, with the box's environment (its Taskwarrior, tmux server)."""
    for key, value in box.env.items():
        monkeypatch.setenv(key, value)
    return lambda: App(load_config(box.sb.config), caller=Caller())


def did(rows: list[Row], agent: str) -> list[str]:
    [row] = [r for r in rows if r.agent == agent and r.kind != "delivery"]
    return row.did


def test_two_dirty_episodes_within_one_second_are_each_warned_about(
    make_box: Callable[..., Box], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pass's clock a millisecond after the last, all in one second: the warning's key
    rounded to the second dropped the second episode as a resend (flaky under load)."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid, name = started(box)
    reported_idle(box, name)
    app = in_process(box, monkeypatch)
    ticks = iter(float(int(time.time())) + n / 1000 for n in range(1, 1000))
    monkeypatch.setattr(watch_pass, "time", SimpleNamespace(time=lambda: next(ticks)))
    tree = by_hand.worktree(box, uuid)

    (tree / "notes.txt").write_text("half done\n", encoding="utf-8")
    assert did(watch_pass.watch_pass(app()), name) == ["warned human"]
    assert did(watch_pass.watch_pass(app()), name) == []  # the same episode: once
    by_hand.commit(box, uuid, "notes.txt", "done\n")
    assert did(watch_pass.watch_pass(app()), name) == []
    (tree / "more.txt").write_text("again\n", encoding="utf-8")
    assert did(watch_pass.watch_pass(app()), name) == ["warned human"]  # a new episode
    assert len(to_human(box)) == 2


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach only the main thread")  # fmt: skip
def test_a_ctrl_c_during_a_pass_stops_the_loop_after_that_pass_is_reported(
    make_box: Callable[..., Box], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop once stopped mid-pass: the worker was restarted and its health written, but
    the pass's rows ("restarted", "healthy again") were never printed."""
    box = by_hand.idle_box(make_box, tmp_path)
    _uuid, name = started(box)
    app = in_process(box, monkeypatch)
    tmux(box, "kill-session", "-t", f"={name}")
    reported: list[list[Row]] = []

    def load() -> App:
        os.kill(os.getpid(), signal.SIGINT)  # ^C as the pass begins
        return app()

    with pytest.raises(KeyboardInterrupt):
        watch_loop(load, 0.1, reported.append, lambda text: pytest.fail(text))
    assert [did(rows, name) for rows in reported] == [["restarted with ttal go (1/3)",
                                                       "alerted human"]]  # fmt: skip
    assert name in box.sessions()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
