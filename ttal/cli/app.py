"""The whole typer app: every command in the command table (ttal/cli/table.py), registered
on the root by the cli module the table names."""

from __future__ import annotations

from ttal.cli import agent_commands, task_commands
from ttal.cli.base import app, registered
from ttal.cli.table import COMMANDS

__all__ = ["agent_commands", "app", "task_commands"]

_missing = [c.name for c in COMMANDS if c.name not in registered()]
if _missing:  # a table entry no cli module registers: `ttal <name>` would be "no such command"
    raise LookupError(f"ttal/cli/table.py lists {', '.join(_missing)}, which no cli module defines")
