"""The hot commands agents call all the time: `go`, `send`, `alert` and `report`.

Both the fast path (before typer is imported) and the typer commands call these, so a
command does and prints the same whichever way it was parsed. Their parameters are the
table's fast-path spec (ttal/cli/table.py): the positional first, then the options.
"""

from __future__ import annotations

from ttal.cli import render
from ttal.errors import Exit


def go(task: str | None = None, *, note: str = "", json: bool = False) -> int:
    from ttal.commands.go import run

    outcome = run(task, note)
    render.show(outcome, json, render.outcome_text)
    return int(outcome.exit_code)


def send(message: str | None = None, *, to: str, key: str = "", json: bool = False) -> int:
    from ttal.commands.send import run_send

    render.show(run_send(to, message, key), json, render.sent_text)
    return int(Exit.OK)


def alert(message: str | None = None, *, key: str = "", json: bool = False) -> int:
    from ttal.commands.send import run_alert

    render.show(run_alert(message, key), json, render.sent_text)
    return int(Exit.OK)


def report(state: str, *, agent: str = "", json: bool = False) -> int:
    from ttal.commands.agents import run_report

    render.show(run_report(state, agent), json)  # silent for people: hooks call it
    return int(Exit.OK)
