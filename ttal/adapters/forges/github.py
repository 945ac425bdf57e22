"""GitHub through the user's own `gh` login: `gh pr create/list/view/merge/close`,
`gh run view --log-failed` and `gh api` (reviews, inline review comments and the PR's
conversation, paged). Every call names the repository (`-R [HOST/]OWNER/REPO`), so nothing
depends on the directory gh runs in; `gh api` takes its host from GH_HOST.

gh treats every host but github.com as GitHub Enterprise (REST under /api/v3/, GraphQL at
/api/graphql): the tests' scripted server (tests/fake_github.py) is such a host.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ttal.adapters.forges.base import Comment
from ttal.adapters.proc import Result, run
from ttal.core.forge import Check, PullState
from ttal.errors import ExternalError

PR_FIELDS = "number,url,state,headRefOid,mergeable,statusCheckRollup,mergeCommit"
_JOB = re.compile(r"/actions/runs/(\d+)/job/(\d+)")
_FAILED = {"FAILURE", "TIMED_OUT", "CANCELLED", "ACTION_REQUIRED", "STARTUP_FAILURE", "ERROR"}


class GitHub:
    name = "github"

    def __init__(self, slug: str) -> None:
        self.slug = slug  # [HOST/]OWNER/REPO
        parts = slug.split("/")
        self.host = parts[0] if len(parts) == 3 else "github.com"
        self.path = "/".join(parts[-2:])

    def _gh(self, *args: str, stdin: str | None = None, what: str = "") -> Result:
        env = {**os.environ, "GH_PROMPT_DISABLED": "1", "GH_NO_UPDATE_NOTIFIER": "1",
               "NO_COLOR": "1", "GH_HOST": self.host}  # fmt: skip
        result = run(["gh", *args], env=env, stdin=stdin, timeout=120)
        if not result.ok:
            detail = (result.err or result.out).strip().splitlines()
            shown = detail[-1] if detail else f"exit {result.code}"
            raise ExternalError(
                f"`gh {what or args[0]}` on {self.slug} failed: {shown}",
                hint="check `gh auth status`; ttal tries again with backoff",
            )
        return result

    def _pages(self, endpoint: str, what: str) -> list[dict[str, Any]]:
        """Every item of a paged REST list: one JSON object a line (`--paginate` alone
        prints one array per page, back to back: not one JSON document)."""
        out = self._gh("api", endpoint, "--paginate", "--jq", ".[]", what=what).out
        try:
            return [json.loads(line) for line in out.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise ExternalError(f"`gh {what}` gave invalid JSON: {err}") from None

    def _json(self, *args: str, what: str) -> Any:
        out = self._gh(*args, what=what).out
        try:
            return json.loads(out or "null")
        except json.JSONDecodeError as err:
            raise ExternalError(f"`gh {what}` gave invalid JSON: {err}") from None

    def auth_problem(self) -> str:
        result = run(["gh", "auth", "status", "--hostname", self.host],
                     env={**os.environ, "GH_PROMPT_DISABLED": "1"}, timeout=60)  # fmt: skip
        if result.ok:
            return ""
        lines = (result.err or result.out).strip().splitlines()
        return lines[-1].strip() if lines else f"gh auth status: exit {result.code}"

    def find(self, branch: str) -> PullState | None:
        found = self._json("pr", "list", "-R", self.slug, "--head", branch, "--state", "all",
                           "--json", "number", what="pr list")  # fmt: skip
        numbers = sorted((int(p["number"]) for p in found or []), reverse=True)
        return self.status(numbers[0]) if numbers else None

    def open(self, branch: str, base: str, title: str, body: str) -> PullState:
        out = self._gh(
            "pr",
            "create",
            "-R",
            self.slug,
            "--head",
            branch,
            "--base",
            base,
            "--title",
            title,
            "--body-file",
            "-",
            stdin=body,
            what="pr create",
        ).out
        url = out.strip().splitlines()[-1] if out.strip() else ""
        number = url.rstrip("/").rsplit("/", 1)[-1]
        if not number.isdigit():
            raise ExternalError(f"`gh pr create` on {self.slug} answered {out.strip()!r}, no URL")
        return self.status(int(number))

    def status(self, number: int) -> PullState:
        data = self._json("pr", "view", str(number), "-R", self.slug, "--json", PR_FIELDS,
                          what="pr view")  # fmt: skip
        checks = tuple(_check(c) for c in data.get("statusCheckRollup") or [])
        return PullState(
            number=int(data["number"]),
            url=str(data.get("url", "")),
            state=str(data.get("state", "")).lower(),
            head=str(data.get("headRefOid", "")),
            conflict=data.get("mergeable") == "CONFLICTING",
            checks=checks,
            merge_commit=str((data.get("mergeCommit") or {}).get("oid", "")),
        )

    def failed_log(self, check: Check) -> str:
        run_id, _, job = check.ref.partition("/")
        if not run_id:
            return ""
        args = ["run", "view", run_id, "-R", self.slug, "--log-failed"]
        out = self._gh(*args, *(["--job", job] if job else []), what="run view --log-failed").out
        # Each line is "JOB<TAB>STEP<TAB>TIMESTAMP LINE": keep the line itself.
        lines = [line.split("\t", 2)[-1] for line in out.splitlines()]
        return "\n".join(re.sub(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ", "", line) for line in lines)

    def comments_since(self, number: int, seen: set[str]) -> list[Comment]:
        base = f"repos/{self.path}/pulls/{number}"
        found: list[Comment] = []
        for review in self._pages(f"{base}/reviews", "api reviews"):
            state, body = str(review.get("state", "")), str(review.get("body") or "")
            if state == "CHANGES_REQUESTED" or (state == "COMMENTED" and body.strip()):
                kind = "changes" if state == "CHANGES_REQUESTED" else "review"
                found.append(Comment(f"review:{review['id']}", kind, _login(review), body))
        for note in self._pages(f"{base}/comments", "api comments"):
            line = int(note.get("line") or note.get("original_line") or 0)
            found.append(
                Comment(
                    f"comment:{note['id']}",
                    "comment",
                    _login(note),
                    str(note.get("body") or ""),
                    str(note.get("path") or ""),
                    line,
                )
            )
        # The conversation (GitHub's issue comments on the PR), without a bot's (coverage
        # reports and the like).
        for note in self._pages(
            f"repos/{self.path}/issues/{number}/comments", "api issue comments"
        ):
            if str((note.get("user") or {}).get("type", "")) != "Bot":
                body = str(note.get("body") or "")
                found.append(Comment(f"talk:{note['id']}", "comment", _login(note), body))
        return [c for c in found if c.id not in seen]

    def merge(self, number: int, method: str, head: str, delete_branch: bool) -> None:
        args = ["pr", "merge", str(number), "-R", self.slug, f"--{method}",
                "--match-head-commit", head]  # fmt: skip
        self._gh(*args, *(["--delete-branch"] if delete_branch else []), what="pr merge")

    def close(self, number: int, comment: str) -> None:
        self._gh("pr", "close", str(number), "-R", self.slug, "--comment", comment,
                 what="pr close")  # fmt: skip


def _check(node: dict[str, Any]) -> Check:
    name = str(node.get("name") or node.get("context") or "check")
    if node.get("__typename") == "StatusContext":
        state = str(node.get("state", "")).upper()
        verdict = (
            "success"
            if state == "SUCCESS"
            else "pending"
            if state in ("PENDING", "EXPECTED")
            else "failure"
        )
        return Check(name, verdict)
    found = _JOB.search(str(node.get("detailsUrl") or ""))
    ref = f"{found[1]}/{found[2]}" if found else ""
    if str(node.get("status", "")).upper() != "COMPLETED":
        return Check(name, "pending", ref)
    return Check(
        name, "failure" if str(node.get("conclusion", "")).upper() in _FAILED else "success", ref
    )


def _login(item: dict[str, Any]) -> str:
    return str((item.get("user") or {}).get("login") or "someone")
