"""The `ttal` command: hand the command line to a warm server, or run it here.

A served command (ttal/cli/table.py) goes to the warm server when one answers
(ttal/warm/client.py): no import of ttal's code, ~100 ms sooner. Otherwise it runs in this
process through ttal/cli/runner.py, which turns every error into its exit code, and a
served command starts a server for the next one. Inside a read-only sandbox (a Codex review
lead) a served command can run nowhere but on the server (ttal/warm/read_only.py).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if argv is None:  # a real command line: a warm server may run it
        served = _on_server(args)
        if served is not None:
            return served
    from ttal.cli.runner import run

    return run(args)


def _on_server(args: list[str]) -> int | None:
    """The served command's exit code, or None to run it here."""
    from ttal.cli import table

    if not table.served(args):
        return None
    from ttal.warm import client

    served = client.run(args)
    if served is not None:
        return served
    if os.environ.get("TTAL_SANDBOX") == "read-only":
        from ttal.warm import read_only  # in-process it could write nothing

        return read_only.run_served(args)
    from ttal.adapters import relay

    if relay.enabled():
        relay.start_server()
    return None


if __name__ == "__main__":
    sys.exit(main())
