"""Render command results: aligned tables for people, JSON for scripts and agents."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from ttal.core.durations import ago as ago  # re-exported: durations in the tables


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "") -> str:
    """A plain aligned table (no rich import: it costs ~30 ms at start-up)."""
    head = [title] if title else []
    if not rows:
        return "\n".join([*head, "  (none)"])
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join([*head, line.rstrip(), *body])


def printable(text: str) -> str:
    """Control characters from data (a task description, say) shown escaped, so they cannot
    act in the user's terminal."""
    return "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def warn(text: str) -> None:
    sys.stderr.write(text + "\n")
