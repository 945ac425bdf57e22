"""Loading a scripted agent's YAML script: pure, and it fails before any step runs.

See ttal.scripted_agent.run for the program that runs the steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_WAIT_TIMEOUT = 120.0
FIELDS = ("uuid", "short", "description", "project", "stage", "role", "round")


class BadScript(Exception):
    """The script cannot be run as written."""


@dataclass(frozen=True)
class Step:
    kind: str
    text: str = ""  # say text, sh command, wait substring, write/append content
    path: str = ""
    argv: tuple[str, ...] = ()
    may_fail: bool = False
    seconds: float = 0.0  # sleep duration or wait timeout
    code: int = 0

    def label(self) -> str:
        return f"{self.kind} {self.path or self.text or ' '.join(self.argv)}".strip()[:80]


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


def load_script(path: Path, ctx: Mapping[str, object]) -> tuple[str, list[Step]]:
    """Return (name of the chosen case, its steps)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadScript(exc.strerror or str(exc)) from None
    except yaml.YAMLError as exc:
        raise BadScript(f"invalid YAML: {' '.join(str(exc).split())}") from None
    cases = [{"steps": raw}] if isinstance(raw, list) else cases_of(raw)
    parsed = [
        (i, case_regex(i, case), parse_steps(i, case.get("steps"), ctx))
        for i, case in enumerate(cases, 1)
    ]
    description = str(ctx.get("description", ""))
    for index, regex, steps in parsed:
        if regex is None or regex.search(description):
            return f"case {index}" + (f" /{regex.pattern}/" if regex else ""), steps
    raise BadScript(f"no case matches description {description!r}; add a case without `match`")


def cases_of(raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, dict) or set(raw) != {"cases"}:
        raise BadScript("expected a list of steps or a mapping with only `cases`")
    cases = raw["cases"]
    if not isinstance(cases, list) or not cases:
        raise BadScript("`cases` must be a non-empty list")
    for i, case in enumerate(cases, 1):
        if not isinstance(case, dict) or not set(case) <= {"match", "steps"}:
            raise BadScript(f"case {i}: expected a mapping with `match` and `steps`")
    return cases


def case_regex(index: int, case: Mapping[str, Any]) -> re.Pattern[str] | None:
    if "match" not in case:
        return None
    try:
        return re.compile(str(case["match"]), re.IGNORECASE)
    except re.error as exc:
        raise BadScript(f"case {index}: bad match regex: {exc}") from None


def parse_steps(case: int, steps: object, ctx: Mapping[str, object]) -> list[Step]:
    if not isinstance(steps, list):
        raise BadScript(f"case {case}: `steps` must be a list")
    return [parse_step(f"case {case} step {i}", s, ctx) for i, s in enumerate(steps, 1)]


def parse_step(where: str, raw: object, ctx: Mapping[str, object]) -> Step:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise BadScript(f"{where}: a step is a mapping with exactly one key, like `say: hi`")
    [(kind, value)] = raw.items()
    parser = PARSERS.get(kind)
    if parser is None:
        raise BadScript(f"{where}: unknown step `{kind}` (known: {', '.join(PARSERS)})")
    try:
        return parser(kind, value, lambda text: fill(text, ctx))
    except (TypeError, ValueError, KeyError) as exc:
        raise BadScript(f"{where}: bad `{kind}`: {exc}") from None


def fill(value: object, ctx: Mapping[str, object]) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise TypeError(f"expected text, got {type(value).__name__}")
    if not isinstance(value, str):
        return str(value)
    try:
        return value.format_map(_Blank(ctx))
    except (ValueError, IndexError, AttributeError) as exc:
        raise ValueError(f"{exc}; write literal braces as {{{{ }}}}") from None


Fill = Callable[[object], str]


def options(value: object, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or not set(value) <= keys or not value:
        raise TypeError(f"expected a mapping with keys from {sorted(keys)}")
    return value


def flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false")
    return value


def parse_file_step(kind: str, value: object, fill: Fill) -> Step:
    opts = options(value, {"path", "text"})
    return Step(kind, text=fill(opts.get("text", "")), path=fill(opts["path"]))


def parse_sh(kind: str, value: object, fill: Fill) -> Step:
    if isinstance(value, str):
        return Step(kind, text=fill(value))
    opts = options(value, {"cmd", "may_fail"})
    return Step(
        kind, text=fill(opts["cmd"]), may_fail=flag("may_fail", opts.get("may_fail", False))
    )


def parse_ttal(kind: str, value: object, fill: Fill) -> Step:
    opts = {"args": value} if isinstance(value, list) else options(value, {"args", "may_fail"})
    if not isinstance(opts["args"], list):
        raise TypeError("args must be a list")
    argv = tuple(fill(arg) for arg in opts["args"])
    return Step(kind, argv=argv, may_fail=flag("may_fail", opts.get("may_fail", False)))


def parse_wait(kind: str, value: object, fill: Fill) -> Step:
    opts = (
        {"contains": value} if isinstance(value, str) else options(value, {"contains", "timeout"})
    )
    timeout = float(opts.get("timeout", DEFAULT_WAIT_TIMEOUT))
    return Step(kind, text=fill(opts["contains"]), seconds=timeout)


def parse_sleep(kind: str, value: object, fill: Fill) -> Step:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError("expected a number of seconds")
    return Step(kind, seconds=float(value))


def parse_say(kind: str, value: object, fill: Fill) -> Step:
    return Step(kind, text=fill(value))


def parse_idle(kind: str, value: object, fill: Fill) -> Step:
    # `idle: false` is kept as a no-op so a script can switch idling off without deleting it.
    return Step(kind if flag(kind, value) else "say")


def parse_exit(kind: str, value: object, fill: Fill) -> Step:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer exit code")
    return Step(kind, code=value)


def parse_usage(kind: str, value: object, fill: Fill) -> Step:
    """`usage: {model: claude-sonnet-4-5, input: 1000, output: 200, cache_read: 0,
    cache_write: 0}`: a model reply's tokens, for ttal's cost and budget tests."""
    opts = options(value, {"model", "input", "output", "cache_read", "cache_write"})
    counts = [opts.get(k, 0) for k in ("input", "output", "cache_read", "cache_write")]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        raise ValueError("token counts must be whole numbers from 0")
    return Step(kind, text=fill(opts.get("model", "claude-sonnet-4-5")),
                argv=tuple(str(c) for c in counts))  # fmt: skip


PARSERS: dict[str, Callable[[str, object, Fill], Step]] = {
    "write": parse_file_step,
    "append": parse_file_step,
    "sh": parse_sh,
    "ttal": parse_ttal,
    "wait": parse_wait,
    "sleep": parse_sleep,
    "say": parse_say,
    "idle": parse_idle,
    "exit": parse_exit,
    "usage": parse_usage,
}
