"""The whole typer app: the root with every command registered on it."""

from __future__ import annotations

from ttal.cli import agent_commands, task_commands
from ttal.cli.base import app

__all__ = ["agent_commands", "app", "task_commands"]
