"""Durations as people read them, for tables and alert texts alike."""

from __future__ import annotations


def ago(seconds: float) -> str:
    """A duration for a table cell: 42s, 17m, 2.5h."""
    if seconds < 90:
        return f"{int(seconds)}s"
    if seconds < 5400:
        return f"{int(seconds // 60)}m"
    return f"{seconds / 3600:.1f}h"
