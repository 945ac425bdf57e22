"""`ttal go`, shared by the typer command and main's fast path."""

from __future__ import annotations

from ttal import output
from ttal.advance import go
from ttal.app import App


def run(task: str | None, note: str, as_json: bool) -> int:
    outcome = go(App.load(), task, note)
    if as_json:
        output.emit_json(outcome.as_dict())
    else:
        output.say(f"task {outcome.task[:8]} ({output.printable(outcome.description)})")
        for line in outcome.did:
            output.say(f"  done: {line}")
        if outcome.message:
            output.say(f"  now:  {outcome.message}")
    return int(outcome.exit_code)
