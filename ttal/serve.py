"""The warm server's process: `python -m ttal.serve SOCKET_PATH` (ttal/adapters/relay.py
starts it).

It hands ttal/warm/server.py the two things the warm package must not know itself: what
to import up front, and how to run one command line (ttal/cli/runner.py, the same runner
and error handling as an in-process `ttal`).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from ttal.cli import runner
from ttal.warm import server

# Packages whose modules served commands import lazily (inside functions): imported up
# front too, so a child only does the work. Not ttal.adapters as a whole: its cold-path
# modules (GitPython's, tasklib's) stay out of a server that serves none of them; the
# adapters the engine uses come with it.
LAZY = ("ttal.commands", "ttal.engine")


def preload() -> None:
    import ttal.cli.app  # typer, and every command's options (the command table)
    import ttal.cli.hot  # noqa: F401  # the fast path's commands

    for package in LAZY:
        found = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(found, prefix=f"{package}."):
            importlib.import_module(info.name)


if __name__ == "__main__":
    sys.exit(server.main(sys.argv[1], runner.run, preload))
