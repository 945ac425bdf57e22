"""`ttal watch` (the watchdog: one pass, or pass after pass) and `ttal heartbeat` (an agent's
"still working" for the stuck check). The pass itself is engine/watch_pass.py."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    Only the first pass's failure ends it, so a broken setup is seen at once."""
    on_pass(watch_pass(load()))
    # Not a wait on a condition (poll.until): a watchdog's pass every `interval` until ^C.
    while True:
        time.sleep(interval)
        try:
            on_pass(watch_pass(load()))
        except TtalError as err:
            on_error(str(err))


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
