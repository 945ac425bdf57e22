"""Merges that never lose work: checked with `git merge-tree` before anything changes, the
base moved only by compare-and-swap, together with its checkout's index and files under
git's own index lock (git_checkout.py), and a branch already on the base counted as merged
only when its changes are still in the base's tree."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ttal import faults
from ttal.adapters import git_checkout
from ttal.adapters.git import git, ident_env, is_ancestor, rev, set_ref, worktree_records
from ttal.adapters.proc import check
from ttal.errors import BaseMoved, ChangesGone, ExternalError, MergeConflict, PreconditionFailed


@dataclass(frozen=True)
class MergeResult:
    commit: str
    already: bool


# The base moved by a route the checkout's lock does not cover (a push, `git update-ref`,
# a base not checked out anywhere): compute the merge again on the new base.
MERGE_TRIES = 4


def merge(
    repo: Path,
    branch: str,
    base: str,
    message: str,
    record: Callable[..., None] = lambda **_: None,
) -> MergeResult:
    """Merge branch into base without touching any worktree but base's own checkout.

    Refuses, changing nothing, on conflicts, on a base that keeps moving, or on a base
    checkout a person is using. `record` gets the facts a crash recovery needs before they
    matter, and `begun=True` from the moment the world may differ from before (the journal
    then never calls a failure "not done").
    """
    for attempt in range(MERGE_TRIES):
        try:
            return _merge_once(repo, branch, base, message, record)
        except BaseMoved:
            if attempt == MERGE_TRIES - 1:
                raise
    raise AssertionError("unreachable")


class HalfDone(ExternalError):
    """The checkout was left half updated: ttal keeps git's index lock for `ttal recover`."""


def _merge_once(
    repo: Path, branch: str, base: str, message: str, record: Callable[..., None]
) -> MergeResult:
    base_ref, tip = f"refs/heads/{base}", rev(repo, f"refs/heads/{branch}")
    if not tip:
        raise PreconditionFailed(f"branch {branch} does not exist in {repo}")
    checkout = _base_checkout(repo, base_ref)
    if not checkout:
        return _merge_at(repo, tip, branch, base, message, record, None)
    # Like `git merge`, hold the checkout's index lock from reading the base until the
    # merge is in place: a person committing there every few ms can no longer move the
    # base under each attempt (they see git's usual "index.lock exists" and retry).
    lock = git_checkout.acquire(checkout)
    record(**lock.facts())
    try:
        result = _merge_at(repo, tip, branch, base, message, record, lock)
    except HalfDone:
        raise
    except BaseException:
        git_checkout.release(lock)
        raise
    if result.already:
        git_checkout.release(lock)
    return result


def _merge_at(
    repo: Path,
    tip: str,
    branch: str,
    base: str,
    message: str,
    record: Callable[..., None],
    lock: git_checkout.IndexLock | None,
) -> MergeResult:
    base_ref = f"refs/heads/{base}"
    old = rev(repo, base_ref)
    if is_ancestor(repo, tip, old):
        refuse_if_changes_gone(repo, tip, base_ref, branch)
        return MergeResult(old, already=True)
    tree = _merge_tree(repo, old, tip, branch, base)
    new = check(git(repo, "commit-tree", tree, "-p", old, "-p", tip, "-m", message,
                    env=ident_env(repo)), "commit-tree").out.strip()  # fmt: skip
    record(old=old, new=new, checkout=str(lock.checkout) if lock else "")
    move = partial(_move_base, repo, base_ref, new, old, f"ttal: {message}", record)
    if not (_move_with_checkout(lock, base_ref, old, new, move, record) if lock else move()):
        raise BaseMoved(
            f"{base} moved while merging {branch}; nothing was changed",
            hint="run `ttal go` again to re-check against the new base",
        )
    faults.point("merge.checkout")
    return MergeResult(new, already=False)


def _move_base(repo: Path, ref: str, new: str, old: str, message: str,
               record: Callable[..., None]) -> bool:  # fmt: skip
    """The compare-and-swap, the one step that cannot be taken back. A failure is checked
    against the world: the ref may have moved even though git reported an error."""
    record(begun=True)
    if set_ref(repo, ref, new, old, message) or rev(repo, ref) == new:
        faults.point("merge.cas")
        return True
    record(begun=False)
    return False


def _move_with_checkout(
    lock: git_checkout.IndexLock,
    base_ref: str,
    old: str,
    new: str,
    move: Callable[[], bool],
    record: Callable[..., None],
) -> bool:
    """Move the base ref (`move`) together with its checkout's index and files, holding
    git's own index lock (git_checkout.py says why). False, changing nothing, when the ref
    moved anyway (not through this checkout: a push, `git update-ref`). A failure that
    leaves the checkout half updated raises HalfDone and keeps the lock, so nothing commits
    from it, journalled as "unknown" for `ttal recover`."""
    _refuse_in_use(lock, base_ref, old)
    record(begun=True)
    _write_checkout(lock, old, new, record)
    faults.point("merge.files")
    if move():
        git_checkout.install(lock)
        return True
    if not git_checkout.restore_files(lock, new, old):
        record(begun=True)
        raise HalfDone(
            f"{base_ref} moved meanwhile and the files at {lock.checkout} could not be put "
            f"back; ttal keeps git's lock there ({lock.path})",
            hint="run `ttal recover`: it checks the checkout and says what to do",
        )
    return False


def _refuse_in_use(lock: git_checkout.IndexLock, base_ref: str, old: str) -> None:
    if why := git_checkout.in_use(lock, base_ref, old):
        raise PreconditionFailed(
            f"{base_ref.removeprefix('refs/heads/')} is checked out at {lock.checkout} and "
            f"{why}; nothing was merged, the branch and its worktree are kept",
            hint="commit, stash or finish what is in progress there (`git status` says "
            "what), then run `ttal go` again",
        )


def _write_checkout(
    lock: git_checkout.IndexLock, old: str, new: str, record: Callable[..., None]
) -> None:
    result = git_checkout.write_files(lock, old, new)
    if result.ok:
        return
    why = result.err.strip().replace("\n", " ")
    if not git_checkout.is_at(lock, old, lock.index):
        raise HalfDone(
            f"updating the checkout at {lock.checkout} failed half way ({why}); ttal keeps "
            f"git's lock there ({lock.path})",
            hint="run `ttal recover`: it checks the checkout and says what to do",
        )
    record(begun=False)
    raise PreconditionFailed(
        f"the checkout at {lock.checkout} cannot be updated ({why}); nothing was merged, "
        "the branch and its worktree are kept",
        hint="move the files git names out of the way, then run `ttal go` again",
    )


def refuse_if_changes_gone(repo: Path, tip: str, base_ref: str, branch: str) -> None:
    """An ancestor of the base is merged only if its changes are still in the base's tree:
    a person's commit from a stale index once took them out again, and ttal called the
    work merged (issue 15, item 2). Raises ChangesGone, naming the files and the commit."""
    landed = _landed_in(repo, tip, base_ref)
    missing = _missing(repo, tip, base_ref, landed) if landed else []
    if not missing:
        return
    base, shown = base_ref.removeprefix("refs/heads/"), ", ".join(missing[:5])
    culprit = git(repo, "log", "-1", "--format=%h (%s)", f"{landed}..{base_ref}", "--",
                  *missing).out.strip() or "a later commit"  # fmt: skip
    raise ChangesGone(
        f"{branch} reached {base} in {landed[:10]}, but its changes to {shown} are not in "
        f"{base}'s tree any more (last changed there by {culprit}), so the task is not "
        "marked merged; the branch and its worktree are kept",
        hint=f"to put them back: `git -C {repo} cherry-pick -m 1 {landed[:10]}` (or revert "
        f"that commit), then run `ttal go`; if they were removed on purpose, finish the "
        "task by hand (`task <id> done`)",
    )


def _landed_in(repo: Path, tip: str, base_ref: str) -> str:
    """The merge commit on the base's first-parent line that brought tip in, or "" when tip
    is itself on that line (fast-forwarded: there is no fork to compare with)."""
    line = git(repo, "rev-list", "--first-parent", f"{tip}..{base_ref}").out.split()
    after = set(git(repo, "rev-list", "--ancestry-path", f"{tip}..{base_ref}").out.split())
    landed = next((c for c in reversed(line) if c in after), "")
    return landed if landed and rev(repo, f"{landed}^1") != tip else ""


def _missing(repo: Path, tip: str, base_ref: str, landed: str) -> list[str]:
    """Files where merging tip again (from the fork it was merged from) would change the
    base: the branch's changes that are not there any more. git 2.38 has no `merge-tree
    --merge-base`, so the fork's tree becomes the one common parent of two stand-ins."""
    fork = git(repo, "merge-base", f"{landed}^1", tip).out.strip()
    env = ident_env(repo)

    def stand_in(tree: str, *parents: str) -> str:
        args = [a for p in parents for a in ("-p", p)]
        out = git(repo, "commit-tree", tree, *args, "-m", "ttal: check", env=env)
        return check(out, "commit-tree").out.strip()

    root = stand_in(f"{fork}^{{tree}}")
    ours, theirs = stand_in(f"{base_ref}^{{tree}}", root), stand_in(f"{tip}^{{tree}}", root)
    result = git(repo, "merge-tree", "--write-tree", "--name-only", ours, theirs)
    if result.code == 1:  # the base changed those lines again since: not the merged text
        return result.out.split("\n\n")[0].splitlines()[1:] or ["(conflicting files)"]
    tree = check(result, "git merge-tree").out.splitlines()[0].strip()
    return git(repo, "diff", "--name-only", base_ref, tree).out.splitlines()


def _merge_tree(repo: Path, old: str, tip: str, branch: str, base: str) -> str:
    result = git(repo, "merge-tree", "--write-tree", "--name-only", old, tip)
    if result.code == 1:
        body = result.out.split("\n\n")[0].splitlines()[1:]
        files = ", ".join(body[:5]) or "unknown files"
        raise MergeConflict(
            f"merging {branch} into {base} would conflict in {files}; nothing was changed, "
            f"the branch and its worktree are kept",
            hint=f"rebase {branch} on {base} in the worktree and resolve, then `ttal go` again",
        )
    if not result.ok:
        raise ExternalError(f"git merge-tree failed: {result.err.strip()} (needs git >= 2.38)")
    return result.out.splitlines()[0].strip()


_ENDS = {"rebase": "`git rebase --continue` or `--abort`", "bisect": "`git bisect reset`"}


def _base_checkout(repo: Path, base_ref: str) -> Path | None:
    records = worktree_records(repo)
    if busy := git_checkout.rebasing(records, base_ref):
        where, op = busy
        raise PreconditionFailed(
            f"{base_ref.removeprefix('refs/heads/')} is in a {op} at {where}; nothing was "
            "merged, the branch and its worktree are kept",
            hint=f"end the {op} there ({_ENDS[op]}), then run `ttal go` again",
        )
    for record in records:
        if record.get("branch") == base_ref:
            return Path(record["worktree"])
    return None


@dataclass(frozen=True)
class Built:
    """A merge queue's tree to check: the base plus each branch merged in turn, one merge
    commit each (the history shows every branch's own merge)."""

    commit: str
    merged: tuple[str, ...]  # the keys of the parts in it, in order
    conflicts: tuple[tuple[str, str], ...]  # (key, why) of the parts left out


def build(repo: Path, base: str, base_tip: str,
          parts: Sequence[tuple[str, str, str, str]]) -> Built:  # fmt: skip
    """Merge each part (key, branch, tip, message) onto base_tip in order, in the object
    store only (no checkout, no ref moved). A part that conflicts with the base or with
    an earlier part is left out, with the reason."""
    current, merged, conflicts = base_tip, list[str](), list[tuple[str, str]]()
    env = _ident(repo)
    for key, branch, tip, message in parts:
        try:
            tree = _merge_tree(repo, current, tip, branch, base)
        except MergeConflict as err:
            earlier = " (with the branches queued before it)" if merged else ""
            why = err.message.replace(" would conflict", f"{earlier} would conflict")
            conflicts.append((key, why))
            continue
        current = check(git(repo, "commit-tree", tree, "-p", current, "-p", tip, "-m", message,
                            env=env), "commit-tree").out.strip()  # fmt: skip
        merged.append(key)
    return Built(current, tuple(merged), tuple(conflicts))


def tips(repo: Path, branches: Sequence[str]) -> dict[str, str]:
    """The commit of each of `branches` that exists, in one git call (a queue run reads its
    base and every branch it takes)."""
    refs = [f"refs/heads/{b}" for b in branches]
    out = check(git(repo, "for-each-ref", "--format=%(refname) %(objectname)", *refs),
                "git for-each-ref").out  # fmt: skip
    found = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {b: found[r] for b, r in zip(branches, refs, strict=True) if r in found}


_IDENTS: dict[Path, dict[str, str] | None] = {}


def _ident(repo: Path) -> dict[str, str] | None:
    """ident_env, asked of git once per repo in a process: a queue driver builds one commit
    per branch, and two `git var` calls each were a tenth of a merged branch's cost."""
    if repo not in _IDENTS:
        _IDENTS[repo] = ident_env(repo)
    return _IDENTS[repo]


def advance(repo: Path, base: str, old: str, new: str, message: str,
            record: Callable[..., None] = lambda **_: None) -> bool:  # fmt: skip
    """Move base from old to new (a commit built on old) by compare-and-swap, with its
    checkout's index and files when it is checked out, as `merge` does. False, changing
    nothing, when base is no longer at old."""
    base_ref = f"refs/heads/{base}"
    checkout = _base_checkout(repo, base_ref)
    move = partial(_move_base, repo, base_ref, new, old, f"ttal: {message}", record)
    if not checkout:
        record(old=old, new=new, checkout="")
        return move()
    lock = git_checkout.acquire(checkout)
    record(**lock.facts())
    record(old=old, new=new, checkout=str(checkout))
    try:
        moved = _move_with_checkout(lock, base_ref, old, new, move, record)
    except HalfDone:
        raise
    except BaseException:
        git_checkout.release(lock)
        raise
    if not moved:
        git_checkout.release(lock)
    return moved


def add_detached(repo: Path, path: Path, commit: str) -> None:
    """A throwaway worktree at `commit` (no branch), for a check to run in."""
    check(git(repo, "worktree", "add", "--detach", str(path), commit), "git worktree add")


def remove_throwaway(repo: Path, path: Path) -> None:
    """Remove a check's worktree, whatever the check left in it: its record in the repo
    (the directory its `.git` file names, under the repo's worktrees/), then its files,
    as `git worktree remove --force --force` does, without a git process per run.
    Anything else found there is left to git."""
    if _drop_record(repo, path):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
    if not git(repo, "worktree", "remove", "--force", "--force", str(path)).ok:
        shutil.rmtree(path, ignore_errors=True)  # not a worktree (any more): ours to remove
        git(repo, "worktree", "prune")


def _drop_record(repo: Path, path: Path) -> bool:
    """Remove the worktree record of `path` if it is the one git made for it: a directory
    under `<repo>/.git/worktrees/` whose `gitdir` file points back at `path/.git`."""
    try:
        pointer = (path / ".git").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    record = Path(pointer.removeprefix("gitdir:").strip())
    try:
        back = (record / "gitdir").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    if not pointer.startswith("gitdir:") or record.parent != repo / ".git" / "worktrees":
        return False
    if Path(back) != path / ".git":
        return False
    shutil.rmtree(record, ignore_errors=True)
    return not record.exists()
