"""The typer root: the app, its sub-apps and the options every command shares."""

from __future__ import annotations

from typing import Annotated, Any

import typer

app = typer.Typer(
    name="ttal",
    help="Run a team of AI coding agents across many git repos. Task state lives in "
    "Taskwarrior; workers run in git worktrees on ttal's own tmux server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
review_app = typer.Typer(help="The review lead's verdict (run inside a review session).")
app.add_typer(review_app, name="review")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts and agents.")]


def _app() -> Any:
    from ttal.engine.app import App

    return App.load()


def _finish(code: int) -> None:
    if code:
        raise typer.Exit(code)
