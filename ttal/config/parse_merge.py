"""Parsing a project's merge-queue keys (docs/merge-queue.md): `check`, `check_timeout`,
`batch`, `max_checks`. Each failure names the file, the key and the fix."""

from __future__ import annotations

import re
from typing import Any

from ttal.config.parse_checks import MAX_SECONDS, ParserBase

MERGE_KEYS = frozenset({"check", "check_timeout", "batch", "max_checks"})
DEFAULT_TIMEOUT = 1800.0  # 30 minutes
_UNITS = {"s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def merge_settings(parser: ParserBase, data: dict[str, Any], key: str) -> dict[str, Any]:
    """The Project fields for `projects.<name>` (`key`), from its mapping `data`."""
    check = data.get("check")
    if check is not None and (not isinstance(check, str) or "\0" in check):
        raise parser.fail(f"{key}.check", f"expected a shell command, got {check!r}",
                          'e.g. check: "make test"')  # fmt: skip
    return {
        "check": (check or "").strip(),
        "check_timeout": _duration(parser, data.get("check_timeout"), f"{key}.check_timeout"),
        "batch": _count(parser, data.get("batch"), f"{key}.batch", "4"),
        "max_checks": _count(parser, data.get("max_checks"), f"{key}.max_checks", "2"),
    }


def _duration(parser: ParserBase, value: Any, key: str) -> float:
    """Seconds, or text with a unit: 90, "90s", "30m", "1.5h"."""
    if value is None:
        return DEFAULT_TIMEOUT
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (found := _DURATION.match(value)):
        seconds = float(found[1]) * _UNITS[found[2] or "s"]
    if seconds is None or not 0 < seconds <= MAX_SECONDS:
        raise parser.fail(key, f"expected a positive duration, got {value!r}",
                          'seconds or a number with s, m or h, e.g. "30m"')  # fmt: skip
    return seconds


def _count(parser: ParserBase, value: Any, key: str, example: str) -> int:
    if value is None:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
        raise parser.fail(key, f"expected a whole number from 1 to 1000, got {value!r}",
                          f"e.g. {example}")  # fmt: skip
    return value
