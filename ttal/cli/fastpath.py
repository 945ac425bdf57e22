"""Hot commands run before typer is imported (typer costs ~85 ms of every start, bench/).

Agents call `ttal go`, `ttal send`, `ttal alert` and `ttal report` all the time. Their
arguments are simple; anything this parser does not recognise (--help, a typo, an unknown
option) returns None and goes to typer, which owns the real help and usage errors.
"""

from __future__ import annotations

from collections.abc import Callable

# command -> (max positionals, options taking a value, flags)
SPECS: dict[str, tuple[int, set[str], set[str]]] = {
    "go": (1, {"--note"}, {"--json"}),
    "send": (1, {"--to", "--key"}, {"--json"}),
    "alert": (1, {"--key"}, {"--json"}),
    "report": (1, {"--agent"}, {"--json"}),
}


def parse(args: list[str]) -> tuple[str, list[str], dict[str, str], set[str]] | None:
    if not args or args[0] not in SPECS:
        return None
    most, valued, flags = SPECS[args[0]]
    positionals: list[str] = []
    options: dict[str, str] = {}
    seen: set[str] = set()
    rest = iter(args[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name in valued:
            value = value if eq else next(rest, None)  # type: ignore[assignment]
            if value is None:
                return None
            options[name] = value
        elif arg in flags:
            seen.add(arg)
        elif arg.startswith("-") and arg != "-":
            return None  # --help, -h, or something typer should explain
        else:
            positionals.append(arg)
    if len(positionals) > most:
        return None
    return args[0], positionals, options, seen


def runner(args: list[str]) -> Callable[[], int] | None:
    parsed = parse(args)
    if parsed is None:
        return None
    command, pos, opts, flags = parsed
    first = pos[0] if pos else None
    as_json = "--json" in flags
    if command == "go":
        from ttal.commands.go import run as run_go

        return lambda: run_go(first, opts.get("--note", ""), as_json)
    if command == "send":
        if "--to" not in opts:
            return None
        from ttal.commands.send import run_send

        return lambda: run_send(opts["--to"], first, opts.get("--key", ""), as_json)
    if command == "alert":
        from ttal.commands.send import run_alert

        return lambda: run_alert(first, opts.get("--key", ""), as_json)
    if first is None:
        return None
    from ttal.commands.agents import run_report

    return lambda: run_report(first, opts.get("--agent", ""), as_json)
