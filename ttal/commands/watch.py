"""`ttal watch` (the watchdog: one pass, or pass after pass) and `ttal heartbeat` (an agent's
"still working" for the stuck check). The pass itself is engine/watch_pass.py."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ttal.engine import watch_pass as one_pass
from ttal.engine.app import App
from ttal.engine.watch_pass import Row as Row  # re-exported: what a pass returns
from ttal.errors import TtalError, UsageError


def watch_pass(app: App) -> list[Row]:
    return one_pass.watch_pass(app)


def watch_loop(
    load: Callable[[], App],
    interval: float,
    on_pass: Callable[[list[Row]], None],
    on_error: Callable[[str], None],
) -> None:
    """Pass after pass until ^C, each with the config as it is now (an edited ttal.yaml
    counts from the next pass). A failed pass (a bad edit, tmux or task briefly unavailable)
    is reported and the next one tried: a watchdog that stops on a hiccup watches nothing.
    Only the first pass's failure ends it, so a broken setup is seen at once.

    ^C during a pass stops the loop once that pass is done and reported: a pass cut short
    had restarted agents and written health that nobody was told about (and a second ^C
    stops at once). ^C between passes stops at once."""
    with _whole_pass():
        on_pass(watch_pass(load()))
    # Not a wait on a condition (poll.until): a watchdog's pass every `interval` until ^C.
    while True:
        time.sleep(interval)
        with _whole_pass():
            try:
                on_pass(watch_pass(load()))
            except TtalError as err:
                on_error(str(err))


@contextmanager
def _whole_pass() -> Iterator[None]:
    """Hold a ^C (SIGINT) until the block is done, then stop as it asked; a second ^C
    stops at once. Only the main thread can set a signal handler: elsewhere, as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    asked: list[int] = []

    def later(signum: int, _frame: object) -> None:
        if asked:
            raise KeyboardInterrupt
        asked.append(signum)

    previous = signal.signal(signal.SIGINT, later)
    try:
        yield
    finally:  # None: a handler not set from Python; Python's own is the nearest
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
    if asked:
        raise KeyboardInterrupt


@dataclass(frozen=True)
class Heartbeat:
    agent: str
    note: str
    ts: float

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "note": self.note, "ts": self.ts}


def heartbeat(app: App, note: str = "", agent: str = "") -> Heartbeat:
    name = agent or ("" if app.caller.is_person else app.caller.name)
    if not name:
        raise UsageError("whose heartbeat? run inside an agent session, or pass --agent NAME")
    app.state.heartbeat(name, note)
    return Heartbeat(name, note, time.time())
