"""Git toward a project's remote: where it is, what its branches hold, pushing a worker's
branch and fetching the base. ttal runs these with the user's own git credentials; agents
never push."""

from __future__ import annotations

import os
from pathlib import Path

from ttal.adapters.git import git
from ttal.adapters.proc import Result, check, run
from ttal.errors import ExternalError, PreconditionFailed


def url(repo: Path, remote: str) -> str:
    """The remote's URL, or a PreconditionFailed naming the fix."""
    result = git(repo, "remote", "get-url", remote)
    if not result.ok:
        raise PreconditionFailed(f"{repo} has no git remote {remote!r}",
                                 hint=f"`git -C {repo} remote add {remote} <url>`, or set "
                                 "projects.<name>.remote")  # fmt: skip
    return result.out.strip()


def remote_tip(repo: Path, remote: str, branch: str) -> str:
    """The commit `branch` holds on the remote now, or "" if it has no such branch."""
    result = _net(repo, "ls-remote", "--heads", remote, f"refs/heads/{branch}")
    for line in check(result, f"git ls-remote {remote}").out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return ""


def push(repo: Path, remote: str, commit: str, branch: str, lease: str | None) -> Result:
    """Push `commit` to the remote's `branch`. `lease`: the commit the remote branch must
    still hold ("" for none) for a push that rewrites it; None for a fast-forward."""
    args = ["push", "--porcelain", remote, f"{commit}:refs/heads/{branch}"]
    if lease is not None:
        args.insert(1, f"--force-with-lease=refs/heads/{branch}:{lease}")
    return _net(repo, *args)


def refusal(result: Result) -> str:
    """Why a push failed, in the remote's words: its `remote:` lines (a hook's message)
    and the reason `--porcelain` gives for the rejected ref."""
    said = [ln[7:].strip() for ln in result.err.splitlines() if ln.startswith("remote:")]
    rejected = [ln.split("\t")[-1] for ln in result.out.splitlines() if ln.startswith("!")]
    found = [text for text in (*rejected, *said) if text]
    if found:
        return "; ".join(found)
    lines = [ln.strip() for ln in result.err.splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {result.code}"


def fetch_base(repo: Path, remote: str, base: str) -> str:
    """Fetch the remote's base into refs/remotes/<remote>/<base>; its commit."""
    ref = f"refs/remotes/{remote}/{base}"
    check(_net(repo, "fetch", "--quiet", remote, f"+refs/heads/{base}:{ref}"),
          f"git fetch {remote} {base}")  # fmt: skip
    found = git(repo, "rev-parse", "--verify", "--quiet", ref)
    if not found.ok:
        raise ExternalError(f"{remote} has no branch {base}")
    return found.out.strip()


def _net(repo: Path, *args: str) -> Result:
    """A git call that talks to a remote: never prompts for a password (it would hang)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return run(["git", "-C", str(repo), *args], env=env, timeout=300)
