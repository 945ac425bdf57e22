"""Reading git history for people: what a branch holds that its base does not, and how big
a task's change is. GitPython, on cold paths only (`ttal gc`, `ttal history`).

`import git` costs ~145 ms and runs `git version` (libraries.md §3.3), so it happens inside
`history()`, never when this module is imported: the hook, `go`, `send` and `report` must not
pay for it (tests/test_lean_imports.py). Every write stays in ttal.adapters.git, as raw git
with compare-and-swap; this module only reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ttal.errors import PreconditionFailed

if TYPE_CHECKING:
    from git import Repo


@dataclass(frozen=True)
class DiffStat:
    files: int
    insertions: int
    deletions: int

    def __str__(self) -> str:
        return f"{self.files} file(s) +{self.insertions} -{self.deletions}"

    def as_dict(self) -> dict[str, int]:
        return {"files": self.files, "insertions": self.insertions, "deletions": self.deletions}


@dataclass(frozen=True)
class Ahead:
    """The commits a tip has that base has not."""

    count: int
    newest: str  # the subject of the newest of them, "" when count is 0


class History:
    """One repository opened with GitPython; get it from `history()`."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def branches(self, prefix: str) -> list[tuple[str, str]]:
        """(tip, name) of every local branch whose name starts with prefix, read from the
        ref files (loose and packed) without running git."""
        heads = [h for h in self.repo.heads if h.name.startswith(prefix)]
        return [(h.commit.hexsha, h.name) for h in heads]

    def is_on(self, commit: str, base: str) -> bool:
        """Every commit of `commit`'s history is on base (False when either is missing).
        Repo.is_ancestor without its raise on a missing ref: exit 1 and 128 both say no."""
        status, _out, _err = self.repo.git.merge_base(
            "--is-ancestor", commit, base, with_extended_output=True, with_exceptions=False
        )
        return bool(status == 0)

    def ahead(self, tip: str, base: str) -> Ahead | None:
        """None when git cannot tell (a base that does not exist)."""
        from git import GitCommandError

        try:
            commits = list(self.repo.iter_commits(f"{base}..{tip}"))
        except GitCommandError:
            return None
        newest = str(commits[0].summary) if commits else ""
        return Ahead(len(commits), newest)

    def diffstat(self, tip: str, base: str) -> DiffStat:
        """What tip changes since it forked from base: `git diff base...tip`."""
        forks = self.repo.merge_base(base, tip)
        if not forks:
            return DiffStat(0, 0, 0)
        text = self.repo.git.diff(forks[0].hexsha, tip, "--", numstat=True, no_renames=True)
        return _numstat(str(text))

    def merged(self, base: str, marker: str) -> DiffStat | None:
        """What the newest merge commit on base whose message holds `marker` brought into
        base (its diff against its first parent), or None when there is no such merge."""
        found = self.repo.iter_commits(base, grep=marker, fixed_strings=True, merges=True,
                                       max_count=1)  # fmt: skip
        for commit in found:
            total = commit.stats.total
            return DiffStat(total["files"], total["insertions"], total["deletions"])
        return None


@contextmanager
def history(repo: Path) -> Iterator[History]:
    """The repository, closed on exit: GitPython keeps two `git cat-file` processes per open
    Repo until it is closed (libraries.md §3.3)."""
    from git import InvalidGitRepositoryError, NoSuchPathError, Repo

    try:
        opened = Repo(str(repo))
    except (InvalidGitRepositoryError, NoSuchPathError):
        hint = "fix projects.*.repo"
        raise PreconditionFailed(f"{repo} is not a git repository", hint=hint) from None
    with opened:
        yield History(opened)


def _numstat(text: str) -> DiffStat:
    files = insertions = deletions = 0
    for line in text.splitlines():
        added, removed, _path = line.split("\t", 2)
        files += 1
        insertions += int(added) if added.isdigit() else 0  # "-" for a binary file
        deletions += int(removed) if removed.isdigit() else 0
    return DiffStat(files, insertions, deletions)
