"""The base branch's checkout, moved the way git moves a checked-out branch.

A person may be working in the checkout while ttal merges: committing, staging, rebasing.
Moving the base ref first and the index after let a `git commit` that started in between
take the merge as its parent but the old index, and so revert the merge (issue 15, item 2:
2 of 3 runs, and ttal then called the work merged).

Git's own commands serialise on the index lock, `<gitdir>/index.lock`, created with O_EXCL:
a command that finds it held fails at once ("Another git process seems to be running"), and
`git commit` holds it from reading the index until HEAD has moved. So ttal takes that same
lock and, holding it, (1) checks that no merge, rebase or cherry-pick is in progress and that
index and files are exactly the old base, (2) writes the new files and index into a scratch
index (as git writes its new index into the lock file), (3) moves the ref by compare-and-swap
and (4) puts the new index in place. A person's commit either ends before step 1 (then the
ref moved and ttal re-plans its merge) or starts after step 4 (HEAD and index both show the
merge): it can no longer mix the two. The ref moves last, after every step that can fail,
and a ttal killed while holding the lock leaves it held, so nothing commits from a
half-updated index until `ttal recover` (engine/recovery.py) has looked at it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttal.adapters import poll
from ttal.adapters.git import git
from ttal.adapters.proc import Result, check
from ttal.errors import PreconditionFailed

LOCK_WAIT = 2.0  # a person's git command holds the lock for milliseconds; longer is a stuck one
SCRATCH = "ttal-merge-index"  # in the checkout's git dir, beside the index it replaces
IN_PROGRESS = (("MERGE_HEAD", "merge"), ("rebase-merge", "rebase"), ("rebase-apply", "rebase"),
               ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert"))  # fmt: skip


@dataclass(frozen=True)
class IndexLock:
    """git's index lock of one checkout, taken by ttal; `ident` names the very file ttal
    created (device:inode), so recovery never removes a lock a git command holds."""

    checkout: Path
    gitdir: Path
    index: Path
    ident: str

    @property
    def path(self) -> Path:
        return Path(f"{self.index}.lock")

    @property
    def scratch(self) -> Path:
        return self.gitdir / SCRATCH

    def facts(self) -> dict[str, str]:
        return {"checkout": str(self.checkout), "gitdir": str(self.gitdir),
                "index": str(self.index), "lock": self.ident}  # fmt: skip


def acquire(checkout: Path, wait: float = LOCK_WAIT) -> IndexLock:
    """Take git's index lock of `checkout`, waiting up to `wait` s for a git command to end."""
    out = check(git(checkout, "rev-parse", "--absolute-git-dir", "--git-path", "index"),
                f"git rev-parse in {checkout}").out.splitlines()  # fmt: skip
    gitdir, index = Path(out[0]), checkout / out[1]
    ident = poll.until(lambda: _create(Path(f"{index}.lock")), wait, 0.01)
    if not ident:
        raise PreconditionFailed(
            f"a git command is running in {checkout} ({index}.lock exists); nothing was "
            "merged, the branch and its worktree are kept",
            hint="let it finish and run `ttal go` again; if no git command is running there, "
            "a crashed one left the file: remove it, then `ttal go`",
        )
    return IndexLock(checkout, gitdir, index, ident)


def _create(path: Path) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return ""
    st = os.fstat(fd)
    os.close(fd)
    return f"{st.st_dev}:{st.st_ino}"


def left_by(detail: dict[str, Any]) -> IndexLock | None:
    """The lock a merge recorded in `detail`, if ttal still holds it (a crash left it)."""
    if not detail.get("lock"):
        return None
    lock = IndexLock(Path(detail["checkout"]), Path(detail["gitdir"]), Path(detail["index"]),
                     str(detail["lock"]))  # fmt: skip
    try:
        st = os.stat(lock.path)
    except FileNotFoundError:
        return None
    return lock if f"{st.st_dev}:{st.st_ino}" == lock.ident else None


def release(lock: IndexLock) -> None:
    """Drop the scratch index, then git's lock if it is still the file ttal created."""
    for path in (lock.scratch, Path(f"{lock.scratch}.lock")):
        path.unlink(missing_ok=True)
    try:
        st = os.stat(lock.path)
    except FileNotFoundError:
        return
    if f"{st.st_dev}:{st.st_ino}" == lock.ident:
        lock.path.unlink()


def in_use(lock: IndexLock, base_ref: str, old: str) -> str:
    """Why the checkout must not be moved now, or "" when it is exactly `old` and idle.
    Leaves a refreshed copy of the index in the scratch index for `write_files`."""
    head = git(lock.checkout, "symbolic-ref", "-q", "HEAD").out.strip()
    if head != base_ref:  # a `git switch` ended just before ttal took the lock
        return f"it switched to {head or 'a detached HEAD'}"
    if op := operation(lock.gitdir):
        return f"a {op} is in progress there"
    changed = _differs(lock, old, lock.index, keep=True)
    if changed:
        return f"it has uncommitted changes ({changed[0]}…)"
    return ""


def operation(gitdir: Path) -> str:
    """The git operation in progress in the checkout whose git dir is `gitdir`, or ""."""
    return next((op for name, op in IN_PROGRESS if (gitdir / name).exists()), "")


def rebasing(records: list[dict[str, str]], base_ref: str) -> tuple[str, str] | None:
    """(worktree, operation) where `base_ref` is being rebased or bisected: its HEAD is
    detached, but git counts the branch as checked out there (`git branch -f` refuses it)."""
    for record in records:
        if "detached" not in record:
            continue
        dotgit = Path(record["worktree"]) / ".git"
        gitdir = dotgit if dotgit.is_dir() else _gitdir_of(dotgit)
        for name, op in (("rebase-merge/head-name", "rebase"), ("rebase-apply/head-name", "rebase"),
                         ("BISECT_START", "bisect")):  # fmt: skip
            head = _read(gitdir / name) if gitdir else ""
            if head in (base_ref, base_ref.removeprefix("refs/heads/")):
                return record["worktree"], op
    return None


def _gitdir_of(dotgit: Path) -> Path | None:
    text = _read(dotgit)  # a linked worktree's .git file: "gitdir: <path>"
    if not text.startswith("gitdir: "):
        return None
    path = Path(text.removeprefix("gitdir: "))
    return path if path.is_absolute() else dotgit.parent / path


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _differs(lock: IndexLock, commit: str, source: Path, keep: bool = False) -> list[str]:
    """Tracked paths where the checkout's index or files differ from `commit`, judged with a
    refreshed copy of the index file `source` (the real index stays untouched: ttal holds
    its lock). `keep` leaves that copy as the scratch index."""
    copy = lock.scratch if keep else lock.gitdir / f"{SCRATCH}.check"
    if source.exists():
        shutil.copyfile(source, copy)
    else:
        check(_with_index(lock, copy, "read-tree", commit), "git read-tree")
    _with_index(lock, copy, "update-index", "-q", "--refresh")  # exit 1 = some need updating
    result = _with_index(lock, copy, "diff-index", "--name-only", commit)
    if not keep:
        copy.unlink(missing_ok=True)
    return result.out.splitlines() if result.ok else ["(git diff-index failed)"]


def _with_index(lock: IndexLock, index: Path, *args: str) -> Result:
    return git(lock.checkout, *args, env={**os.environ, "GIT_INDEX_FILE": str(index)})


def write_files(lock: IndexLock, old: str, new: str) -> Result:
    """Bring the files from old to new and write the matching index into the scratch index
    (`git read-tree -m -u`: it checks every path before writing any, so a refusal, e.g. an
    untracked file in the way, changes nothing)."""
    return _with_index(lock, lock.scratch, "read-tree", "-m", "-u", old, new)


def catch_up(lock: IndexLock, old: str, new: str) -> bool:
    """Bring a checkout whose ref already moved from old to new, when its index and files
    are still exactly old. True when done (the lock is then let go); False changes nothing."""
    if _differs(lock, old, lock.index, keep=True) or not write_files(lock, old, new).ok:
        return False
    install(lock)
    return True


def restore_files(lock: IndexLock, new: str, old: str) -> bool:
    """Undo `write_files` (the ref never moved). True when the files are old again."""
    if not _with_index(lock, lock.scratch, "read-tree", "-m", "-u", new, old).ok:
        return False
    return is_at(lock, old, lock.scratch)


def is_at(lock: IndexLock, commit: str, source: Path) -> bool:
    """True when the index file `source` and the files both hold exactly commit's tree."""
    return source.exists() and not _differs(lock, commit, source)


def install(lock: IndexLock) -> None:
    """Put the scratch index in place, then let go of git's lock (a rename: readers see the
    old index or the new one, never a part)."""
    os.replace(lock.scratch, lock.index)
    lock.path.unlink()
