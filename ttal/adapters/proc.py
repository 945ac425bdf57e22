"""The one subprocess wrapper: runs a program, captures text, never inherits stdin; and
starts a detached one. Every ttal module runs programs through here (and git through
adapters/git.py on top of it)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
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


@dataclass(frozen=True)
class Finished:
    """How a logged run ended: its exit code (negative: the signal that ended it), whether
    it was stopped at its timeout, and how long it took."""

    code: int
    timed_out: bool
    seconds: float


def _wait(child: subprocess.Popen[bytes], timeout: float) -> None:
    """child.wait(timeout), woken the moment it ends (a pidfd), where Popen.wait polls with
    sleeps that cost a quick check ~10 ms; that poll where pidfds are missing."""
    try:
        fd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):
        child.wait(timeout=timeout)
        return
    try:
        waiter = select.poll()
        waiter.register(fd, select.POLLIN)
        if not waiter.poll(max(0.0, timeout) * 1000):
            raise subprocess.TimeoutExpired(child.args, timeout)
    finally:
        os.close(fd)
    child.wait()


def run_logged(
    command: str,
    *,
    cwd: Path,
    log: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    started: Callable[[int], None] = lambda pid: None,
    grace: float = 2.0,
) -> Finished:
    """Run a shell command in a process group of its own, its output (stderr too) appended
    to `log`, and wait at most `timeout` s. `started` gets its pid (= its group) at once,
    for a crash recovery to find it. At the timeout, or when this process is interrupted,
    the whole group is stopped (stop_group); what the command left running in its group
    after it ended is stopped too, so nothing outlives the run."""
    log.parent.mkdir(parents=True, exist_ok=True)
    begin = time.monotonic()
    with open(log, "ab") as out:
        try:
            child = subprocess.Popen(
                ["/bin/sh", "-c", command], cwd=cwd, env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        except OSError as err:
            raise ExternalError(f"cannot start the check in {cwd}: {err}") from None
    timed_out = False
    try:
        started(child.pid)
        _wait(child, timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        stop_group(child.pid, grace, child)
    return Finished(child.wait(), timed_out, time.monotonic() - begin)


def stop_group(pgid: int, grace: float = 2.0, child: subprocess.Popen[bytes] | None = None,
               marker: str = "") -> bool:  # fmt: skip
    """Stop every process of group `pgid`: interrupt, then terminate, then kill, `grace` s
    apart (as nox stops a session). `marker` (NAME=value): act only if a member carries it
    in its environment, so a recorded group id that the system has since given to another
    program is left alone. True when the group had members."""
    if marker and not any(_carries(pid, marker) for pid in group_members(pgid)):
        return False
    had = False
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if child is not None:
            child.poll()  # reap our own child, or it stays in the group as a zombie
        if not group_members(pgid):
            return had
        had = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + (grace if sig != signal.SIGKILL else 10.0)
        while time.monotonic() < deadline:
            if child is not None:
                child.poll()
            if not group_members(pgid):
                return True
            time.sleep(0.02)
    return had


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of group `pgid`, from /proc."""
    try:
        os.killpg(pgid, 0)  # one system call for the common case: the group is empty
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _carries(pid: int, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
