"""Git adapter: branches, worktrees and refs that never lose work.

Refs move only by compare-and-swap (`git update-ref <ref> <new> <old>`); the merge itself is
in git_merge.py, the base's checkout in git_checkout.py. Raw git via subprocess: GitPython
adds ~110 ms of import to every command and nothing we need here.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from ttal.adapters.proc import Result, check, run
from ttal.errors import PreconditionFailed

FALLBACK_IDENT = {
    "GIT_AUTHOR_NAME": "ttal",
    "GIT_AUTHOR_EMAIL": "ttal@localhost",
    "GIT_COMMITTER_NAME": "ttal",
    "GIT_COMMITTER_EMAIL": "ttal@localhost",
}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Raw git in repo. For the git adapters and the sandbox's test world: ttal's other
    modules call a named function, so every git command ttal runs is listed in this file,
    git_merge.py or git_checkout.py."""
    return run(["git", "-C", str(repo), *args], env=env)


def init(path: Path, base: str, env: dict[str, str] | None = None) -> None:
    """A new repository at path whose first branch is base."""
    check(run(["git", "init", "-q", "-b", base, str(path)], env=env), "git init")


def slugify(text: str, limit: int = 40) -> str:
    """A branch-safe slug: ascii letters and digits joined by '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = "-".join(words)[:limit].strip("-")
    return slug or "task"


def branch_name(short: str, description: str) -> str:
    return f"ttal/{short}-{slugify(description)}"


def rev(repo: Path, ref: str) -> str:
    """The commit a ref points at, or "" if it does not exist."""
    result = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return result.out.strip() if result.ok else ""


def is_ancestor(repo: Path, commit: str, of: str) -> bool:
    return git(repo, "merge-base", "--is-ancestor", commit, of).code == 0


def check_repo(repo: Path, base: str) -> None:
    if not (repo / ".git").exists() and not git(repo, "rev-parse", "--git-dir").ok:
        raise PreconditionFailed(f"{repo} is not a git repository", hint="fix projects.*.repo")
    if not rev(repo, f"refs/heads/{base}"):
        raise PreconditionFailed(
            f"{repo} has no branch {base!r}", hint="set projects.*.base to the branch to merge into"
        )


def worktree_records(repo: Path) -> list[dict[str, str]]:
    """`git worktree list --porcelain`, one dict per worktree: "worktree" (its path), "HEAD",
    "branch" (a ref; missing when detached), and "detached", "locked", "prunable" when so."""
    out = check(git(repo, "worktree", "list", "--porcelain"), "git worktree list").out
    records = []
    for record in out.strip().split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in record.splitlines() if line)
        if "worktree" in fields:
            records.append(fields)
    return records


def worktrees(repo: Path) -> dict[str, str]:
    """Map worktree path -> checked-out branch ref ("" when detached)."""
    return {r["worktree"]: r.get("branch", "") for r in worktree_records(repo)}


def ensure_worktree(repo: Path, path: Path, branch: str, base: str) -> bool:
    """Create the branch (from base) and its worktree if missing. True if anything was made.

    Callers hold the repo lock: parallel `git worktree add` on one repo races (§3.3).
    """
    existing = worktrees(repo)
    if str(path) in existing:
        if existing[str(path)] != f"refs/heads/{branch}":
            raise PreconditionFailed(f"{path} is a worktree of another branch", hint="remove it")
        return False
    if path.exists() and any(path.iterdir()):
        raise PreconditionFailed(
            f"{path} exists and is not a worktree of {branch}; nothing was changed",
            hint="move it away, or run `ttal gc`",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # The usual case first (a new branch), then the rarer ones: one git call, not four.
    result = git(repo, "worktree", "add", "-b", branch, str(path), base)
    if not result.ok and "already exists" in result.err:  # the branch survived a crash
        result = git(repo, "worktree", "add", str(path), branch)
    if not result.ok and "already registered" in result.err:  # a stale record of the path
        git(repo, "worktree", "prune")
        result = git(repo, "worktree", "add", str(path), branch)
    if not result.ok:
        check_repo(repo, base)  # a clearer error for a missing repo or base
        check(result, "git worktree add")
    return True


def ahead(worktree: Path, base: str) -> int:
    out = check(git(worktree, "rev-list", "--count", f"{base}..HEAD"), "git rev-list").out
    return int(out.strip() or 0)


def count(repo: Path, since: str, until: str) -> int | None:
    """How many commits `until` has that `since` lacks; None when git cannot say."""
    out = git(repo, "rev-list", "--count", f"{since}..{until}").out.strip()
    return int(out) if out.isdigit() else None


def log_lines(repo: Path, since: str, until: str) -> list[str]:
    """Each commit in since..until as "<short hash> <subject>", newest first; [] on error."""
    return git(repo, "log", "--format=%h %s", f"{since}..{until}").out.splitlines()


def branch_tips(repo: Path, prefix: str) -> list[tuple[str, str]]:
    """(tip, branch name) of every branch under `prefix` (e.g. "refs/heads/ttal/")."""
    fmt = "--format=%(objectname) %(refname:strip=2)"
    out = check(git(repo, "for-each-ref", fmt, prefix), "git for-each-ref").out
    return [(tip, name) for tip, _, name in (line.partition(" ") for line in out.splitlines())]


NO_REF = "0" * 40  # as `old` of `git update-ref <ref> <new> <old>`: create only, never overwrite


def set_ref(repo: Path, ref: str, new: str, old: str, message: str) -> bool:
    """Point ref at new only if it still points at old ("" = only if it does not exist):
    a compare-and-swap. False, changing nothing, when the ref moved meanwhile."""
    return git(repo, "update-ref", "-m", message, ref, new, old or NO_REF).ok


def delete_ref(repo: Path, ref: str, old: str) -> bool:
    """Delete ref only if it still points at old (compare-and-swap)."""
    return git(repo, "update-ref", "-d", ref, old).ok


def dirty_paths(worktree: Path, untracked: bool = True) -> list[str]:
    mode = "--untracked-files=all" if untracked else "--untracked-files=no"
    out = check(git(worktree, "status", "--porcelain", mode), "git status").out
    return [line[3:] for line in out.splitlines() if line.strip()]


def ignored_paths(worktree: Path) -> list[str]:
    """The files git ignores in a worktree (an ignored directory as one "dir/" entry):
    `git worktree remove` deletes them without --force, so `ttal gc` names them first."""
    out = check(git(worktree, "status", "--porcelain", "-z", "--ignored",
                    "--untracked-files=normal"), "git status").out  # fmt: skip
    return [entry[3:] for entry in out.split("\0") if entry.startswith("!! ")]


def ident_error(repo: Path, env: dict[str, str] | None = None) -> str:
    """Why a commit in repo (with env) would fail for want of an identity; "" when git can
    name the author and the committer."""
    for var in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        result = git(repo, "var", var, env=env)
        if not result.ok:
            lines = [ln for ln in result.err.splitlines() if ln.startswith("fatal:")]
            return (lines or [f"git var {var} failed"])[-1]
    return ""


def ident_env(repo: Path) -> dict[str, str] | None:
    if git(repo, "var", "GIT_COMMITTER_IDENT").ok and git(repo, "var", "GIT_AUTHOR_IDENT").ok:
        return None
    return {**os.environ, **FALLBACK_IDENT}


def remove_clean_worktree(repo: Path, path: str) -> Result:
    """`git worktree remove` without --force: git itself refuses a worktree that is dirty or
    locked, so uncommitted work is never lost however late it appeared."""
    return git(repo, "worktree", "remove", path)


def prune_worktrees(repo: Path) -> None:
    """Drop the records of worktrees whose directory is gone."""
    check(git(repo, "worktree", "prune"), "git worktree prune")


def remove_worktree(repo: Path, path: Path) -> bool:
    """Remove a worktree only when it holds no uncommitted work. True if removed."""
    if str(path) not in worktrees(repo):
        return False
    if path.exists() and dirty_paths(path):
        return False
    check(git(repo, "worktree", "remove", "--force", str(path)), "git worktree remove")
    return True


def delete_merged_branch(repo: Path, branch: str, base: str) -> bool:
    """Delete branch only if every commit on it is on base (compare-and-swap on its tip)."""
    tip = rev(repo, f"refs/heads/{branch}")
    if not tip or not is_ancestor(repo, tip, f"refs/heads/{base}"):
        return False
    return delete_ref(repo, f"refs/heads/{branch}", tip)
