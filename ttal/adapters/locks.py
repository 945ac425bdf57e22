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


@contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _locked(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())  # who holds it, for `ttal gc`
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _locked(path: Path) -> int:
    """An fd holding the lock on the file `path` names now. `ttal gc` unlinks stale lock
    files while holding them; a process that opened the file just before would otherwise
    lock the unlinked inode while the next one locks a new file: two holders."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd
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
