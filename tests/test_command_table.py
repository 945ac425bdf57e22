"""The command table (ttal/cli/table.py) is the one list of commands: the typer app, the fast
path and the warm server read it. These hold the three to it, without a subprocess."""

from __future__ import annotations

import inspect

import typer.main

from ttal.cli import fastpath, hot
from ttal.cli.app import app
from ttal.cli.base import registered
from ttal.cli.table import BY_NAME, COMMANDS, SERVED


def test_typer_registers_exactly_the_table() -> None:
    assert registered() == {c.name for c in COMMANDS}
    assert len(BY_NAME) == len(COMMANDS)
    assert set(BY_NAME) >= SERVED


def test_each_fast_spec_is_its_typer_command() -> None:
    """The fast path understands a subset of what typer does, never something else: same
    options, same flags, the same required ones, and one function both call."""
    group = typer.main.get_group(app)
    for entry in (c for c in COMMANDS if c.fast is not None):
        spec = entry.fast
        assert spec is not None
        command = group.commands[entry.name]
        options = {o for p in command.params for o in p.opts if o.startswith("--")} - {"--help"}
        assert options == {*spec.options, *spec.flags}, entry.name
        required = {p.opts[0] for p in command.params if p.required and p.opts[0].startswith("-")}
        assert required == set(spec.required), entry.name
        [argument] = [p for p in command.params if not p.opts[0].startswith("-")]
        assert argument.required is not spec.optional, entry.name
        params = inspect.signature(getattr(hot, entry.name)).parameters
        keywords = {o.lstrip("-").replace("-", "_") for o in options}
        assert keywords <= set(params), entry.name


def test_the_fast_path_hands_anything_unusual_to_typer() -> None:
    assert fastpath.parse(["go", "12", "--note", "n", "--json"]) == (
        "go", ["12"], {"note": "n", "json": True})  # fmt: skip
    assert fastpath.parse(["send", "--to=mgr", "-"]) == ("send", ["-"], {"to": "mgr"})
    for args in (["send", "hi"], ["report"], ["go", "--help"], ["go", "1", "2"],
                 ["go", "--note"], ["status"], []):  # fmt: skip
        assert fastpath.parse(args) is None, args
