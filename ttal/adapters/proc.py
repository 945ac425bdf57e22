"""The one subprocess wrapper: runs a program, captures text, never inherits stdin; and
starts a detached one. Every ttal module runs programs through here (and git through
adapters/git.py on top of it)."""

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
    timeout: float | None = 60.0,
    merge_stderr: bool = False,
) -> Result:
    """Run argv to its end. `merge_stderr` interleaves stderr into `out`, as a terminal
    shows it. Output that is not UTF-8 is decoded with replacement characters, not a crash.
    A missing program or a timeout raises ExternalError; a non-zero exit does not."""
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except FileNotFoundError:
        raise ExternalError(
            f"{argv[0]} is not installed or not on PATH",
            hint="run `ttal doctor` (on Debian/Ubuntu: apt-get install taskwarrior tmux git)",
        ) from None
    except subprocess.TimeoutExpired as exc:
        shown = " ".join(argv[:4])
        raise ExternalError(f"`{shown} …` took longer than {exc.timeout:.0f}s") from None
    return Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr or "")


def check(result: Result, what: str) -> Result:
    if not result.ok:
        detail = (result.err or result.out).strip().splitlines()
        raise ExternalError(f"{what} failed: {detail[-1] if detail else f'exit {result.code}'}")
    return result


def start_detached(
    argv: Sequence[str],
    *,
    log: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Start argv in a session of its own and do not wait for it: it outlives this process
    and its tmux session (a child in ours is killed with it). stdin is /dev/null; stdout and
    stderr are appended to `log` (its folder is made), or go to /dev/null without one.
    OSError (e.g. a missing program) is raised to the caller."""
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    with open(log or "/dev/null", "ab") as out:  # the child keeps its own copy of the fd
        subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
