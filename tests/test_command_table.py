"""The command table (ttal/cli/table.py) is the one list of commands: the typer app, the fast
path and the warm server read it. These hold the three to it, and the one runner to its
exit codes, without a subprocess."""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path

import pytest
import typer.main

from ttal.cli import fastpath, hot, runner
from ttal.cli.app import app
from ttal.cli.base import registered
from ttal.cli.table import BY_NAME, COMMANDS, SERVED
from ttal.errors import Exit, NotFound


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


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (NotFound("no task 999", hint="`ttal status` lists them"), Exit.NOT_FOUND, "no task 999"),
        (KeyboardInterrupt(), Exit.INTERRUPTED, "ttal: interrupted"),
        (RuntimeError("a bug"), Exit.BUG, "ttal: internal error: RuntimeError('a bug')"),
    ],
)
def test_one_handler_turns_every_error_into_its_exit_code(
    raised: BaseException, code: Exit, said: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    """The runner the entry point and the warm server's children share (cli/runner.py)."""

    def fail(*_args: object, **_kwargs: object) -> int:
        raise raised

    monkeypatch.setattr(hot, "go", fail)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert runner.run(["go", "12"]) == code
    err = capsys.readouterr().err
    assert said in err, err
    logs = list(tmp_path.glob("ttal-crash-*.log"))
    assert len(logs) == (code == Exit.BUG), logs  # a bug's traceback goes to a log, not the screen
    assert "Traceback" not in err
    if logs:
        assert str(logs[0]) in err and "RuntimeError: a bug" in logs[0].read_text()


def test_typer_usage_errors_are_one_line_and_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.run(["send", "hi"]) == Exit.USAGE  # no --to: the fast path hands it to typer
    err = capsys.readouterr().err
    assert err.startswith("ttal: Missing option '--to'.\n  hint: Usage: ttal send"), err
    assert runner.run(["nosuch"]) == Exit.USAGE
