"""Every ttal command, once: the typer app, the fast path and the warm server read this.

Pure data, cheap to import (no dataclasses, no typing): the entry point reads it before it
decides where a command runs.

- `module`: the ttal.cli module whose typer command (or group) it is (ttal/cli/app.py).
- `served`: a warm server may run it (ttal/warm/). Commands whose work is short and needs no
  controlling terminal; attach, demo and watch stay in-process: they own the terminal or
  run for hours. `local`: options with which a served command runs in-process anyway, because
  then it owns the terminal (`ttal status --watch`).
- `fast`: the arguments the fast path (ttal/cli/fastpath.py) understands, so that agents'
  hot commands run before typer is imported (typer costs ~85 ms of every start, bench/).
  Only what agents pass; anything else (--help, a typo) goes to typer, which owns the real
  help and usage errors. tests/test_command_table.py holds these to the typer commands.
"""

from __future__ import annotations


class Fast:
    """The command's function in ttal/cli/hot.py takes the positional first, then each
    option as a keyword (`--note` -> note, `--json` -> json)."""

    __slots__ = ("flags", "optional", "options", "required")

    def __init__(
        self,
        options: tuple[str, ...] = (),
        required: tuple[str, ...] = (),
        optional: bool = True,
        flags: tuple[str, ...] = ("--json",),
    ) -> None:
        self.options = options  # options taking a value
        self.required = required  # options it cannot run without
        self.optional = optional  # whether its one positional argument may be left out
        self.flags = flags


class Command:
    __slots__ = ("fast", "local", "module", "name", "served")

    def __init__(
        self, name: str, module: str, served: bool = False, fast: Fast | None = None,
        local: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.name, self.module, self.served, self.fast = name, module, served, fast
        self.local = local


TASKS, AGENTS, LOOK = "task_commands", "agent_commands", "insight_commands"

# In the order `ttal --help` lists them.
COMMANDS = (
    Command("send", AGENTS, served=True, fast=Fast(options=("--to", "--key"), required=("--to",))),
    Command("alert", AGENTS, served=True, fast=Fast(options=("--key",))),
    Command("inbox", AGENTS, served=True),
    Command("ack", AGENTS, served=True),
    Command("up", AGENTS),
    Command("fork", AGENTS),
    Command("down", AGENTS),
    Command("context", AGENTS, served=True),
    Command("agents", AGENTS, served=True),
    Command("report", AGENTS, served=True, fast=Fast(options=("--agent",), optional=False)),
    Command("deliver", AGENTS, served=True),
    Command("heartbeat", AGENTS, served=True),
    Command("watch", AGENTS),
    Command("breathe", AGENTS),
    Command("init", TASKS),
    Command("doctor", TASKS),
    Command("go", TASKS, served=True, fast=Fast(options=("--note",))),
    Command("approve", TASKS, served=True),
    Command("status", TASKS, served=True, local=("--watch", "-w")),
    Command("cost", TASKS, served=True),
    Command("history", TASKS),
    Command("log", LOOK),
    Command("insights", LOOK),
    Command("attach", TASKS),
    Command("demo", TASKS),
    Command("recover", TASKS, served=True),
    Command("gc", TASKS),
    Command("server", TASKS),
    Command("review", TASKS, served=True),
    Command("diary", AGENTS, served=True),
    Command("journal", TASKS, served=True),
)
BY_NAME = {c.name: c for c in COMMANDS}
SERVED = frozenset(c.name for c in COMMANDS if c.served)


def served(args: list[str]) -> bool:
    """Whether a warm server may run this command line."""
    entry = BY_NAME.get(args[0]) if args else None
    return entry is not None and entry.served and not any(a in entry.local for a in args[1:])
