"""The warm server's process: `python -m ttal.serve SOCKET_PATH` (ttal/adapters/relay.py
starts it).

It hands ttal/warm/server.py the two things the warm package must not know itself: what
to import up front, and how to run one command line (ttal/cli/runner.py, the same runner
and error handling as an in-process `ttal`).
"""

from __future__ import annotations

import pkgutil
import sys

from ttal.cli import runner
from ttal.warm import server

# Packages whose modules served commands import lazily (inside functions): imported up
# front too, so a child only does the work.
LAZY = ("ttal.commands", "ttal.engine", "ttal.adapters")


def preload() -> None:
    import ttal.cli.app  # typer, and every command's options (the command table)
    import ttal.cli.hot

    for package in LAZY:
        path = [f"{ttal.__path__[0]}/{package.split('.', 1)[1].replace('.', '/')}"]
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            __import__(info.name)


if __name__ == "__main__":
    sys.exit(server.main(sys.argv[1], runner.run, preload))
