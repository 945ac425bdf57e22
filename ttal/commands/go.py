"""`ttal go`, shared by the typer command and main's fast path."""

from __future__ import annotations

from ttal.cli import render
from ttal.engine.app import App
from ttal.engine.drive import go


def run(task: str | None, note: str, as_json: bool) -> int:
    outcome = go(App.load(), task, note)
    if as_json:
        render.emit_json(outcome.as_dict())
    else:
        render.say(f"task {outcome.task[:8]} ({render.printable(outcome.description)})")
        for line in outcome.did:
            render.say(f"  done: {line}")
        if outcome.message:
            render.say(f"  now:  {outcome.message}")
    return int(outcome.exit_code)
