"""Which branch names and worktree paths from a task's fields ttal will act on.

`ttal_branch` and `ttal_worktree` are Taskwarrior fields: anyone with `task` can set them,
before `ttal go` (`task add ... ttal_worktree:...`) or after. ttal runs git, tmux and the
agent there, and later removes that worktree and deletes that branch, so it takes only
names it could have made itself. Lexical checks only; engine/lookup.py adds the filesystem's
(symlinks) and the journal's (paths ttal made itself).
"""

from __future__ import annotations

import os
import re

BRANCH_PREFIX = "ttal/"
# ttal's own names (git.branch_name) are ttal/<short>-<slug>; a person may pick another
# name under ttal/, but nothing git, a shell or tmux reads specially.
_BRANCH_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def valid_branch(name: str) -> bool:
    """A branch ttal may create, merge and delete: under ttal/, and a name git's
    check-ref-format accepts (tests/test_tmux_formats.py checks the two agree)."""
    rest = name.removeprefix(BRANCH_PREFIX)
    if rest == name or not _BRANCH_CHARS.fullmatch(rest) or ".." in name:
        return False
    return all(
        part and not part.startswith((".", "-")) and not part.endswith((".lock", "."))
        for part in rest.split("/")
    )


def branch_problem(name: str) -> str:
    """Why a task's ttal_branch is not one ttal acts on ("" when it is)."""
    if valid_branch(name):
        return ""
    return (
        f"its ttal_branch {name!r} is not a ttal branch name (ttal/ followed by letters, "
        "digits, '-', '_', '.' and '/', as git allows them)"
    )


def worktree_problem(path: str) -> str:
    """Why `path` (a task's ttal_worktree) is not a path ttal writes ("" when it is one):
    absolute, normalised, no control character."""
    if _CONTROL.search(path):
        return f"its ttal_worktree {path!r} contains a control character"
    if not os.path.isabs(path):
        return f"its ttal_worktree {path!r} is not an absolute path"
    if os.path.normpath(path) != path:
        return f"its ttal_worktree {path!r} is not a normalised path (no '..', '.', '//')"
    return ""


def inside(path: str, home: str) -> bool:
    """`path` is below the folder `home` (not `home` itself), by their names alone."""
    return path.startswith(os.path.normpath(home).rstrip(os.sep) + os.sep)
