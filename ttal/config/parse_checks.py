"""Parsing ttal.yaml: the checks every key shares (a mapping, a string, a path, a name, a
number of seconds), each failure naming the file and the key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ttal.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,40}$")
TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_SECONDS = 10**9  # a bound for numbers in the config: float() of a huge int overflows


def one_line(text: str) -> str:
    """Control characters (a newline in a YAML key, say) shown escaped: an error is one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ParserBase:
    """The checks every key shares; each failure names the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: {one_line(key)}: {one_line(problem)}", hint=fix)

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(
                key, f"expected a mapping, got {type(value).__name__}", "see `ttal init`"
            )
        for k in value:
            if not isinstance(k, str):
                raise self.fail(key, f"key {k!r} is not a string", "quote it or rename it")
        return value

    def string(self, value: Any, key: str, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}", "set a value")
        return value

    def optional_string(self, value: Any, key: str) -> str:
        """Unset or a string: `notify: {a: 1}` once became the command "{'a': 1}"."""
        if value is None or value == "":
            return ""
        return self.string(value, key)

    def path_of(self, value: Any, key: str, default: str | None = None) -> Path:
        text = self.string(value, key, default)
        if "\0" in text:  # os calls raise ValueError on it, at the first mkdir or stat
            raise self.fail(key, f"{text!r} contains a NUL character", "remove it")
        expanded = Path(os.path.expandvars(text)).expanduser()
        return expanded if expanded.is_absolute() else (self.base / expanded).resolve()

    def name(self, value: str, key: str) -> str:
        if not NAME_RE.match(value):
            raise self.fail(
                key,
                f"name {value!r} is not allowed",
                "use letters, digits, '-' and '_', starting with a letter (max 41 chars)",
            )
        return value

    def unknown_keys(self, data: dict[str, Any], allowed: set[str], key: str) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            # Quoted when odd: an empty key read "ttal.yaml: : unknown key".
            name = extra[0] if re.fullmatch(r"[\w.-]+", extra[0]) else repr(extra[0])
            raise self.fail(
                f"{key}.{name}" if key else name,
                "unknown key",
                f"allowed keys here: {', '.join(sorted(allowed))}",
            )

    def seconds(self, value: Any, key: str) -> float:
        """A non-negative number (0 when unset)."""
        if value is None:
            return 0.0
        number = isinstance(value, int | float) and not isinstance(value, bool)
        # Written so .nan fails too; .inf and a 400-digit int broke int() and float() later.
        if not number or not 0 <= value <= MAX_SECONDS:
            raise self.fail(
                key, f"expected a number from 0 to {MAX_SECONDS}, got {value!r}", "e.g. 5"
            )
        return float(value)
