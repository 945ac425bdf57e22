#!/usr/bin/env python3
"""Taskwarrior hooks' full check: ttal's monotonic pipeline tags.

    ttal-hook.py modify   (two JSON lines on stdin: the task before and after)
    ttal-hook.py add      (one JSON line: the new task)

The sh hooks on-modify-ttal and on-add-ttal call this only when their fast path cannot
decide (a task in a pipeline whose tags change; see them). `ttal doctor --fix` installs a
copy with TTAL_PKG set to the directory holding the ttal package. Stdlib only, and not
even `json`: it must start fast (bench/).
"""

import os
import sys

TTAL_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # replaced on install


def main() -> int:
    sys.path.insert(0, TTAL_PKG)
    try:
        from ttal.core.tagrules import RULES_FILE, check_add, check_modify, loads
    except ImportError as err:  # ttal moved or upgraded under an installed hook
        print(f"ttal: this hook cannot load ttal from {TTAL_PKG} ({err}); "
              "run `ttal doctor --fix` to install the hooks of the ttal you have")  # fmt: skip
        return 1

    # split("\n"), not splitlines(): a description may hold \x1c or \u2028, written raw.
    lines = sys.stdin.read().split("\n")
    rules_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), RULES_FILE)
    try:
        with open(rules_path, encoding="utf-8") as fh:
            rules = loads(fh.read())
    except FileNotFoundError:
        rules = {}
    if sys.argv[1:] == ["add"]:
        reason = check_add(loads(lines[0]), rules)
    else:
        reason = check_modify(loads(lines[0]), loads(lines[1]), rules, os.environ)
    if reason:
        print(f"ttal: {reason}")
        return 1
    # Accepted as Taskwarrior gave it: nothing to re-serialise.
    print(lines[0] if sys.argv[1:] == ["add"] else lines[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
