"""Pure decisions about a task's pull request: where the repository is on the forge, what
a PR's state asks of ttal, and what the worker is told (engine/forge.py acts on them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# git@github.com:acme/api.git, ssh://git@github.com/acme/api, https://github.com/acme/api.git
_REMOTE = re.compile(
    r"^(?:(?:ssh|https?|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/"
    r"|(?:[^@/]+@)?(?P<scp>[^/:]+):)(?P<path>[^/]+/[^/]+?)(?:\.git)?/?$"
)
LOG_LINES = 30  # the last lines of a failed job's log sent to the worker
# Ends every comment ttal writes on a forge (hidden by its Markdown): ttal posts with the
# user's own login, so this, not the author, tells ttal's comments from the user's.
OWN_MARK = "<!-- ttal -->"


def slug_from_url(url: str) -> str:
    """`HOST/OWNER/REPO` from a remote's URL, or "" for a path or an unknown shape."""
    found = _REMOTE.match(url.strip())
    if not found:
        return ""
    return f"{found['host'] or found['scp']}/{found['path']}"


@dataclass(frozen=True)
class Check:
    name: str
    state: str  # pending, success, failure
    ref: str = ""  # the forge's handle on the job's log (GitHub: "RUN/JOB")


@dataclass(frozen=True)
class PullState:
    """One look at a pull request on the forge."""

    number: int
    url: str
    state: str  # open, closed, merged
    head: str  # the PR's head commit, as the forge sees it
    conflict: bool = False
    checks: tuple[Check, ...] = field(default_factory=tuple)
    merge_commit: str = ""

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.state == "failure")

    @property
    def pending(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.state == "pending")


@dataclass(frozen=True)
class Verdict:
    action: str  # merge, merged, wait, closed
    reason: str


def merge_verdict(pr: PullState, approved: str) -> Verdict:
    """May ttal merge this PR now? Only its approved head, green, without a conflict."""
    if pr.state == "merged":
        return Verdict("merged", f"PR #{pr.number} was merged on the forge")
    if pr.state == "closed":
        return Verdict("closed", f"PR #{pr.number} is closed without a merge; reopen it, or "
                       "delete the task")  # fmt: skip
    if not approved or pr.head != approved:
        return Verdict("wait", f"PR #{pr.number}'s head {pr.head[:10] or '(none)'} is not the "
                       f"commit the review lead approved ({approved[:10] or 'none'})")  # fmt: skip
    if pr.conflict:
        return Verdict("wait", f"PR #{pr.number} conflicts with its base; the worker was told")
    if pr.failed:
        names = ", ".join(c.name for c in pr.failed)
        return Verdict("wait", f"PR #{pr.number}: checks failed ({names}); the worker was told")
    if pr.pending:
        names = ", ".join(c.name for c in pr.pending)
        return Verdict("wait", f"PR #{pr.number}: waiting for checks ({names})")
    return Verdict("merge", f"PR #{pr.number} is green and approved")


def tail(log: str, lines: int = LOG_LINES) -> str:
    """The last lines of a job's log, without the blank ones."""
    kept = [line for line in log.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def ci_text(short: str, pr: PullState, logs: dict[str, str]) -> str:
    parts = [f"task {short}: CI failed on PR #{pr.number} at {pr.head[:10]} ({pr.url})."]
    for name, log in logs.items():
        parts.append(f"--- failing job: {name} (last lines of its log)\n{log or '(no log)'}")
    parts.append("Fix it here, commit, then run `ttal go`: the review lead re-reviews and "
                 "ttal pushes to the same PR.")  # fmt: skip
    return "\n".join(parts)


def comment_text(short: str, number: int, author: str, body: str, where: str, kind: str) -> str:
    what = {"changes": "requested changes", "review": "reviewed"}.get(kind, "commented")
    at = f" on {where}" if where else ""
    return (
        f"task {short}: {author} {what} on PR #{number}{at}:\n{body.strip()}\n"
        "Answer it here with a commit (then `ttal go`), or tell your spawner why not."
    )


def closed_text(short: str, description: str) -> str:
    """ttal's comment on the PR of a deleted task, which it closes."""
    return f"Closed by ttal: task {short} ({description}) was deleted.\n\n{OWN_MARK}"


def by_ttal(body: str) -> bool:
    """A comment ttal wrote itself (never sent back to the worker)."""
    return body.rstrip().endswith(OWN_MARK)


def conflict_text(short: str, pr: PullState, base: str) -> str:
    return (
        f"task {short}: PR #{pr.number} ({pr.url}) conflicts with {base} at "
        f"{pr.head[:10]}. Rebase onto {base} here, resolve, commit, then run `ttal go`: "
        "the review lead re-reviews and ttal pushes the rewritten branch (with a lease)."
    )
