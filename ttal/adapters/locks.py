"""File locks (fcntl.flock) that serialise ttal's own writes across processes.

Taskwarrior 2.6 drops concurrent modifies of one task (32 of 80 survived with 8 writers,
shared/research/libraries.md §1.7), and parallel `git worktree add` on one repo races.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import overload

from ttal.adapters import poll


@contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _holding(_locked(path)):
        yield


@contextmanager
def held_if_free(path: Path) -> Iterator[bool]:
    """As `held`, without waiting: yields False, holding nothing, while another process
    holds the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _locked(path, wait=False)
    if fd is None:
        yield False
        return
    with _holding(fd):
        yield True


@contextmanager
def _holding(fd: int) -> Iterator[None]:
    try:
        # Who holds it, for `ttal gc`. Written over the last holder's pid, then cut to
        # length: truncating a file with data to 0 costs ext4 ~2 ms per hold (bench/).
        pid = str(os.getpid()).encode()
        os.pwrite(fd, pid, 0)
        os.ftruncate(fd, len(pid))
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextmanager
def borrowed(path: Path, timeout: float) -> Iterator[bool]:
    """Hold the lock on `path` for the block, as `held` does, but leave no trace: no pid is
    written (the last holder's stays, so `ttal gc` still tells a stale file), and a file
    this call made is removed. For `ttal gc`, which takes finished tasks' locks only to
    decide. Yields False, holding nothing, when the lock stays busy for `timeout` s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    made = not path.exists()
    attempt = _Attempt(path)
    try:
        if not poll.until(attempt.lock, timeout):
            yield False
            return
        try:
            yield True
        finally:
            if made:  # unlinked while held: a waiter re-checks the inode and retries (_locked)
                path.unlink(missing_ok=True)
    finally:
        attempt.close()


class _Attempt:
    """A lock asked for without blocking, again and again, on one open file: its holder can
    see who waits (/proc/PID/fd), and no file is opened per try."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def lock(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            if os.path.samestat(os.fstat(self.fd), os.stat(self.path)):
                return True
        except FileNotFoundError:
            pass
        os.close(self.fd)  # gc removed the file we opened: ask again on the new one
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        return False

    def close(self) -> None:
        os.close(self.fd)  # closing drops the lock too


@overload
def _locked(path: Path) -> int: ...
@overload
def _locked(path: Path, wait: bool) -> int | None: ...
def _locked(path: Path, wait: bool = True) -> int | None:
    """An fd holding the lock on the file `path` names now (None: busy, and not `wait`).
    `ttal gc` unlinks stale lock files while holding them; a process that opened the file
    just before would otherwise lock the unlinked inode while the next one locks a new
    file: two holders."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd
        except BlockingIOError:
            os.close(fd)
            return None
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def task_lock(lock_dir: Path, uuid: str) -> Path:
    return lock_dir / f"task-{uuid}.lock"


def repo_lock(lock_dir: Path, repo: Path) -> Path:
    digest = hashlib.sha1(str(repo.resolve()).encode()).hexdigest()[:12]
    return lock_dir / f"repo-{digest}.lock"


def taskwarrior_lock(lock_dir: Path) -> Path:
    return lock_dir / "taskwarrior.lock"
