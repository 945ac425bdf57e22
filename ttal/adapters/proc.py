"""The one subprocess wrapper: runs a program, captures text, never inherits stdin."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ttal.errors import ExternalError


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60.0,
) -> Result:
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise ExternalError(
            f"{argv[0]} is not installed or not on PATH",
            hint="run `ttal doctor` (on Debian/Ubuntu: apt-get install taskwarrior tmux git)",
        ) from None
    except subprocess.TimeoutExpired:
        raise ExternalError(f"`{' '.join(argv[:4])} …` took longer than {timeout:.0f}s") from None
    return Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


def check(result: Result, what: str) -> Result:
    if not result.ok:
        detail = (result.err or result.out).strip().splitlines()
        raise ExternalError(f"{what} failed: {detail[-1] if detail else f'exit {result.code}'}")
    return result
