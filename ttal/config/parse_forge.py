"""Parsing a project's forge keys: `merge`, `remote` and the `pr:` block (docs/forges.md).

projects:
  api:
    repo: ~/src/api
    merge: github          # local (default): merge into base here
    remote: origin         # the git remote ttal pushes the worker's branch to
    pr:
      repo: acme/api       # [HOST/]OWNER/REPO; default: read from the remote's URL
      open_at: lgtm        # lgtm: at the review lead's approval; coded: at +coded
      merge_method: merge  # merge, squash or rebase (`gh pr merge --<method>`)
      delete_branch: false # delete the remote branch at the merge
      retries: 5           # failed pushes or PR calls, retried with backoff, then flagged
      backoff: 30          # seconds before the second try, doubled after each
"""

from __future__ import annotations

import re
from typing import Any

from ttal.config.model import MERGE_KINDS, MERGE_METHODS, OPEN_AT, PullRequests
from ttal.config.parse_checks import ParserBase

FORGE_KEYS = {"merge", "remote", "pr"}
PR_KEYS = {"repo", "open_at", "merge_method", "delete_branch", "retries", "backoff"}
SLUG_RE = re.compile(r"^(?:[A-Za-z0-9.-]+(?::\d{1,5})?/)?[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
REMOTE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def forge_fields(p: ParserBase, data: dict[str, Any], key: str) -> dict[str, Any]:
    """The Project fields of a project's forge keys, each checked."""
    merge = p.string(data.get("merge"), f"{key}.merge", "local")
    if merge not in MERGE_KINDS:
        raise p.fail(f"{key}.merge", f"unknown merge {merge!r}",
                     f"use one of {', '.join(MERGE_KINDS)}")  # fmt: skip
    remote = p.string(data.get("remote"), f"{key}.remote", "origin")
    if not REMOTE_RE.match(remote):
        raise p.fail(f"{key}.remote", f"{remote!r} is not a git remote's name",
                     "the name `git remote` lists, e.g. origin")  # fmt: skip
    if "pr" in data and merge == "local":
        raise p.fail(f"{key}.pr", "pull request options on a project that merges locally",
                     f"set {key}.merge: github, or remove {key}.pr")  # fmt: skip
    return {"merge": merge, "remote": remote, "pr": _pr(p, data.get("pr"), f"{key}.pr")}


def _pr(p: ParserBase, raw: Any, key: str) -> PullRequests:
    data = p.mapping(raw, key)
    p.unknown_keys(data, PR_KEYS, key)
    repo = p.optional_string(data.get("repo"), f"{key}.repo")
    if repo and not SLUG_RE.match(repo):
        raise p.fail(f"{key}.repo", f"{repo!r} is not OWNER/REPO",
                     "e.g. acme/api, or github.example.com/acme/api")  # fmt: skip
    open_at = _choice(p, data, key, "open_at", OPEN_AT)
    method = _choice(p, data, key, "merge_method", MERGE_METHODS)
    delete = data.get("delete_branch", False)
    if not isinstance(delete, bool):
        raise p.fail(f"{key}.delete_branch", f"expected true or false, got {delete!r}",
                     "e.g. delete_branch: true")  # fmt: skip
    retries = data.get("retries", 5)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 1 <= retries <= 100:
        raise p.fail(f"{key}.retries", f"expected a whole number from 1 to 100, got {retries!r}",
                     "e.g. retries: 5")  # fmt: skip
    backoff = p.seconds(data.get("backoff", 30), f"{key}.backoff")
    return PullRequests(repo, open_at, method, delete, retries, backoff)


def _choice(p: ParserBase, data: dict[str, Any], key: str, name: str,
            allowed: tuple[str, ...]) -> str:  # fmt: skip
    value = p.string(data.get(name), f"{key}.{name}", allowed[0])
    if value not in allowed:
        raise p.fail(
            f"{key}.{name}", f"unknown value {value!r}", f"use one of {', '.join(allowed)}"
        )
    return value
