"""Hot commands run before typer is imported (typer costs ~85 ms of every start, bench/).

Agents call `ttal go`, `ttal send`, `ttal alert` and `ttal report` all the time. What each
takes is its `fast` spec in the command table (ttal/cli/table.py); anything this parser
does not recognise (--help, a typo, an unknown option, a missing argument) returns None and
goes to typer, which owns the real help and usage errors.
"""

from __future__ import annotations

from collections.abc import Callable

from ttal.cli.table import BY_NAME


def parse(args: list[str]) -> tuple[str, list[str], dict[str, str | bool]] | None:
    """(command, positionals, keyword arguments), or None for typer to handle."""
    command = BY_NAME.get(args[0]) if args else None
    spec = command.fast if command is not None else None
    if command is None or spec is None:
        return None
    positionals: list[str] = []
    options: dict[str, str | bool] = {}
    rest = iter(args[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name in spec.options:
            found = value if eq else next(rest, None)
            if found is None:
                return None
            options[_keyword(name)] = found
        elif arg in spec.flags:
            options[_keyword(arg)] = True
        elif arg.startswith("-") and arg != "-":
            return None  # --help, -h, or something typer should explain
        else:
            positionals.append(arg)
    if len(positionals) > 1 or (not positionals and not spec.optional):
        return None
    if any(_keyword(name) not in options for name in spec.required):
        return None
    return command.name, positionals, options


def _keyword(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def runner(args: list[str]) -> Callable[[], int] | None:
    parsed = parse(args)
    if parsed is None:
        return None
    name, positionals, options = parsed
    from ttal.cli import hot

    function: Callable[..., int] = getattr(hot, name)
    return lambda: function(*positionals, **options)
