"""`ttal go`: the next step of a task's pipeline (ttal/engine/drive.py does it)."""

from __future__ import annotations

from ttal.engine.app import App
from ttal.engine.drive import Outcome, go


def run(task: str | None, note: str) -> Outcome:
    return go(App.load(), task, note)
