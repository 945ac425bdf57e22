"""The whole typer app: every command in the command table (ttal/cli/table.py), registered
on the root by the cli module the table names."""

from __future__ import annotations

import inspect

import typer

from ttal.cli import agent_commands, insight_commands, task_commands
from ttal.cli.base import app, registered
from ttal.cli.table import COMMANDS

__all__ = ["agent_commands", "app", "insight_commands", "task_commands", "unwrapped"]

_missing = [c.name for c in COMMANDS if c.name not in registered()]
if _missing:  # a table entry no cli module registers: `ttal <name>` would be "no such command"
    raise LookupError(f"ttal/cli/table.py lists {', '.join(_missing)}, which no cli module defines")


def unwrapped(text: str) -> str:
    """Each paragraph of a docstring on one line (a list item, `- ...`, on its own): typer's
    rich help prints a docstring's line breaks, so hard-wrapped sentences came out broken in
    the middle. The terminal's width wraps them again. A paragraph click must not rewrap
    (it starts with \\b) is left as it is."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.lstrip().startswith(("- ", "* ")):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def _unwrap_help(root: typer.Typer) -> None:
    """Every command's and group's help, here and in its sub-apps, unwrapped once."""
    for command in root.registered_commands:
        text = command.help or inspect.getdoc(command.callback)
        if text:
            command.help = unwrapped(text)
    for group in root.registered_groups:
        sub = group.typer_instance
        if group.help:
            group.help = unwrapped(group.help)
        if sub is not None:
            if isinstance(sub.info.help, str):
                sub.info.help = unwrapped(sub.info.help)
            _unwrap_help(sub)


_unwrap_help(app)
