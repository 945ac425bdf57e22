"""Run one command line in this process, and the one place errors become exit codes.

The `ttal` entry point (ttal/main.py) runs a command here when no warm server takes it;
the warm server's child (ttal/serve.py) runs it here too, so a served command fails exactly
as an in-process one does. Codes are ttal.errors.Exit: an expected TtalError its own, ^C
130, typer's usage errors 2, and a bug 3, with the traceback written to a log rather than
the screen.
"""

from __future__ import annotations

import sys

from ttal.errors import Exit, TtalError, UsageError


def run(args: list[str]) -> int:
    try:
        _check_text(args)
        if args == ["--version"]:  # answered before typer is imported; typer documents it
            return _version()
        from ttal.cli.fastpath import runner

        fast = runner(args)
        if fast is not None:
            return fast()
        from ttal.cli.app import app

        # Without standalone mode typer *returns* the code of a `typer.Exit` (e.g. 16 for
        # waiting) instead of raising it; dropping it made every such exit 0.
        code = app(args=args, prog_name="ttal", standalone_mode=False)
    except TtalError as err:
        from ttal.cli.render import warn  # inert: a message may quote a name or a description

        warn(f"ttal: {err}")
        return int(err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("ttal: interrupted\n")
        return int(Exit.INTERRUPTED)
    except SystemExit as exc:
        return int(exc.code or Exit.OK) if not isinstance(exc.code, str) else int(Exit.ERROR)
    except BaseException as exc:
        return _usage_or_bug(exc)
    return code if isinstance(code, int) else int(Exit.OK)


def _version() -> int:
    from ttal import __version__

    sys.stdout.write(f"ttal {__version__}\n")
    return int(Exit.OK)


def _check_text(args: list[str]) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates, and SQLite or a subprocess
    then raised UnicodeEncodeError deep inside a command (`--key`, `--agent`, a message)."""
    for number, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(
                f"argument {number} ({arg!r}) is not UTF-8 text; nothing was done",
                hint="pass names and messages as UTF-8; send binary data as a file's path",
            ) from None


def _usage_or_bug(exc: BaseException) -> int:
    import tempfile  # only on a crash: with traceback, ~14 ms of every start (bench/)
    import traceback

    click_exc = _click_exception(exc)
    if click_exc is not None:
        return click_exc
    try:
        with tempfile.NamedTemporaryFile("w", prefix="ttal-crash-", suffix=".log",
                                         delete=False) as f:  # fmt: skip
            traceback.print_exception(exc, file=f)
        where = f"details in {f.name}"
    except OSError as err:  # a read-only filesystem (a sandbox): no log, say why in one line
        where = f"no log could be written ({err.strerror})"
    sys.stderr.write(f"ttal: internal error: {exc!r}\n  a bug in ttal; {where}\n")
    return int(Exit.BUG)


def _click_exception(exc: BaseException) -> int | None:
    """typer's usage errors and Exit, raised because standalone_mode is off. Known by name:
    importing click here would cost every start."""
    name = type(exc).__name__
    if name == "Exit":
        return int(getattr(exc, "exit_code", Exit.OK))
    if name == "Abort":
        sys.stderr.write("ttal: aborted\n")
        return int(Exit.INTERRUPTED)
    message = getattr(exc, "format_message", None)
    if callable(message) and hasattr(exc, "exit_code"):
        # One `ttal: ...` line and a hint, like every other refusal: click's own show()
        # printed four (usage, "Try ... --help", a blank line, "Error: ...").
        sys.stderr.write(f"ttal: {message()}\n")
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            usage = " ".join(ctx.get_usage().split())
            sys.stderr.write(f"  hint: {usage}; `{ctx.command_path} --help` explains\n")
        return int(exc.exit_code)
    return None
