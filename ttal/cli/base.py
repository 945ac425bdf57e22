"""The typer root: the app, its sub-apps, and the options every command shares.

Commands are registered by name from the command table (ttal/cli/table.py): `command` and
`group` refuse a name the table does not list, and ttal/cli/app.py checks that every name
it lists was registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from ttal.cli.table import BY_NAME, COMMANDS

if TYPE_CHECKING:
    from ttal.engine.app import App


class _TableOrder(TyperGroup):
    """`ttal --help` lists the commands in the table's order."""

    def list_commands(self, ctx: Any) -> list[str]:  # typer's own click context
        return [c.name for c in COMMANDS if c.name in self.commands]


app = typer.Typer(
    cls=_TableOrder,
    name="ttal",
    help="Run a team of AI coding agents across many git repos. Task state lives in "
    "Taskwarrior; workers run in git worktrees on ttal's own tmux server.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (ttal/cli/complete.py)
    pretty_exceptions_enable=False,
)


def _version(asked: bool) -> None:
    if asked:  # only `ttal --version --json` and the like: ttal/cli/runner.py answers the rest
        from ttal import __version__

        typer.echo(f"ttal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print ttal's version and exit.", is_eager=True,
                     callback=_version),
    ] = False,
) -> None:  # fmt: skip
    pass


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts and agents.")]
F = TypeVar("F", bound=Callable[..., Any])


def _listed(name: str, module: str) -> None:
    entry = BY_NAME.get(name)
    if entry is None or f"ttal.cli.{entry.module}" != module:
        raise LookupError(f"`ttal {name}` ({module}) is not in ttal/cli/table.py as such")


def command(name: str, module: str) -> Callable[[F], F]:
    """Register a top-level command the table lists."""
    _listed(name, module)
    return app.command(name)


def group(name: str, module: str, help: str) -> typer.Typer:
    """A sub-app (`ttal review approve`) the table lists."""
    _listed(name, module)
    sub = typer.Typer(help=help)
    app.add_typer(sub, name=name)
    return sub


def registered() -> set[str]:
    """The names on the typer app: its commands and its groups."""
    found = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    return {name for name in found if name}


def _app() -> App:
    from ttal.engine.app import App

    return App.load()


def _finish(code: int) -> None:
    if code:
        raise typer.Exit(int(code))
