"""A scripted GitHub for the real `gh` program: pull requests, checks, reviews and their logs.

    hub = FakeGitHub(tmp_path, remote=bare_repo).start()
    env = hub.env()            # GH_CONFIG_DIR (a hosts.yml with a token), SSL_CERT_FILE
    slug = hub.slug            # "127.0.0.1:PORT/acme/api": gh's [HOST/]OWNER/REPO

`gh` treats every host but github.com as GitHub Enterprise: REST under
https://HOST/api/v3/ and GraphQL at https://HOST/api/graphql. So the server is HTTPS with a
certificate made here (openssl) that gh trusts through SSL_CERT_FILE, and the login is a
hosts.yml in a temp GH_CONFIG_DIR: nothing of the user's gh is read or written.

The pull requests live here; their branches live in `remote`, the bare repository that
ttal really pushes to: a PR's head commit is that branch's tip when asked, and a merge
really moves the base branch there. Checks, reviews, inline comments and the conversation's
comments are scripted by the test (`check`, `review`, `comment`, `talk`). REST lists are
paged as GitHub pages them (`per_page`, `page`, a Link header to the next page; a test
lowers `page_limit` to get several pages). Every request is kept in `requests`, so a test
asserts what gh actually sent. GraphQL is answered by the operation gh names (RepositoryInfo,
PullRequestCreate, ...); the answers carry every field gh 2.23 asks for there.
"""

from __future__ import annotations

import io
import itertools
import json
import random
import re
import ssl
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

OWNER, NAME = "acme", "api"
# Fields gh 2.23 asks the host about before it uses them (its feature detection).
FIELDS = (
    "isInMergeQueue",
    "isMergeQueueEnabled",
    "autoMergeRequest",
    "mergeQueue",
    "visibility",
    "viewerMergeBodyText",
    "viewerMergeHeadlineText",
    "mergeStateStatus",
    "reviewDecision",
    "autoMergeAllowed",
    "projectsV2",
    "projectItems",
)
TOKEN = "gho_faketoken0000"


@dataclass
class Request:
    method: str
    path: str
    body: Any  # parsed JSON, or None
    operation: str = ""  # GraphQL: the operation's name (`query RepositoryInfo(...)`)

    @property
    def query(self) -> str:
        return str(self.body.get("query", "")) if isinstance(self.body, dict) else ""

    @property
    def variables(self) -> dict[str, Any]:
        found = self.body.get("variables") if isinstance(self.body, dict) else None
        return dict(found or {})


@dataclass
class Check:
    name: str
    conclusion: str  # SUCCESS, FAILURE, or "" while it runs
    log: str = ""
    run_id: int = 0
    job_id: int = 0


@dataclass
class PullRequest:
    number: int
    head: str
    base: str
    title: str
    body: str
    state: str = "OPEN"  # OPEN, CLOSED, MERGED
    merge_commit: str = ""
    merged_at: str = ""
    comments: list[dict[str, Any]] = field(default_factory=list)  # inline review comments
    reviews: list[dict[str, Any]] = field(default_factory=list)
    issue_comments: list[dict[str, Any]] = field(default_factory=list)  # the conversation
    head_oid: str = ""  # kept once merged or closed: GitHub still knows it after a deletion


class FakeGitHub:
    def __init__(self, root: Path, remote: Path) -> None:
        self.root = root
        self.remote = remote
        self.requests: list[Request] = []
        self.prs: dict[int, PullRequest] = {}
        self.checks: dict[str, list[Check]] = {}  # by head commit
        # Ids unlike any other server's: gh caches a run's logs by its id in $TMPDIR.
        self.ids = itertools.count(random.randrange(10**8, 10**9))
        self.lock = threading.Lock()
        self.refuse: dict[str, tuple[int, str]] = {}  # operation -> (status, message), once
        self.auto_checks: tuple[str, ...] = ()  # checks every new head gets, running
        self.page_limit = 100  # the most items of a list one page holds (GitHub: 100)
        self.httpd: ThreadingHTTPServer | None = None

    # ---- the server -----------------------------------------------------------------
    def start(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        cert, key = self.root / "cert.pem", self.root / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        handler = type("Handler", (_Handler,), {"hub": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        config = self.root / "gh"
        config.mkdir(exist_ok=True)
        (config / "hosts.yml").write_text(
            f"{self.host}:\n    oauth_token: {TOKEN}\n    user: person\n    git_protocol: https\n",
            encoding="utf-8",
        )
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def host(self) -> str:
        assert self.httpd is not None, "start() the server first"
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def slug(self) -> str:
        return f"{self.host}/{OWNER}/{NAME}"

    def env(self) -> dict[str, str]:
        return {
            "GH_CONFIG_DIR": str(self.root / "gh"),
            "SSL_CERT_FILE": str(self.root / "cert.pem"),
            "GH_PROMPT_DISABLED": "1",
            "GH_NO_UPDATE_NOTIFIER": "1",
            "NO_COLOR": "1",
            # gh caches run logs under $TMPDIR/gh-cli-cache: keep them in the test's folder.
            "TMPDIR": str(self.root),
        }

    # ---- what a test scripts ------------------------------------------------------
    def check(self, sha: str, name: str, conclusion: str, log: str = "") -> Check:
        """Check `name` on commit `sha` ends (or runs, with conclusion "")."""
        with self.lock:
            found = next((c for c in self.checks.get(sha, []) if c.name == name), None)
            if found is None:
                found = Check(name, conclusion, log, next(self.ids), next(self.ids))
                self.checks.setdefault(sha, []).append(found)
            found.conclusion, found.log = conclusion, log
            return found

    def comment(self, number: int, path: str, line: int, body: str, user: str = "carol") -> int:
        with self.lock:
            pr = self.prs[number]
            cid = next(self.ids)
            pr.comments.append({"id": cid, "path": path, "line": line, "body": body,
                                "user": user, "commit_id": self.tip(pr.head)})  # fmt: skip
            return cid

    def talk(self, number: int, body: str, user: str = "carol", bot: bool = False) -> int:
        """A comment in the PR's conversation (GitHub's issue comment), by `user`."""
        with self.lock:
            return self._talk(self.prs[number], body, user, "Bot" if bot else "User")

    def _talk(self, pr: PullRequest, body: str, user: str, kind: str = "User") -> int:
        cid = next(self.ids)
        pr.issue_comments.append({"id": cid, "body": body, "user": user, "type": kind})
        return cid

    def review(self, number: int, state: str, body: str, user: str = "carol") -> int:
        with self.lock:
            pr = self.prs[number]
            rid = next(self.ids)
            pr.reviews.append({"id": rid, "state": state, "body": body, "user": user,
                               "commit_id": self.tip(pr.head)})  # fmt: skip
            return rid

    def merge_by_hand(self, number: int, method: str = "merge") -> str:
        with self.lock:
            return self._merge(self.prs[number], method, "")

    def ops(self, name: str) -> list[Request]:
        """The GraphQL requests of one operation, or REST requests whose path has `name`."""
        return [
            r for r in self.requests if r.operation == name or (not r.operation and name in r.path)
        ]

    # ---- the bare repository --------------------------------------------------------
    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(self.remote), *args], capture_output=True,
                              text=True)  # fmt: skip

    def tip(self, branch: str) -> str:
        found = self.git("rev-parse", "-q", "--verify", f"refs/heads/{branch}")
        return found.stdout.strip() if found.returncode == 0 else ""

    def _mergeable(self, pr: PullRequest) -> str:
        if pr.state != "OPEN":
            return "UNKNOWN"
        found = self.git("merge-tree", "--write-tree", self.tip(pr.base), self.tip(pr.head))
        return "MERGEABLE" if found.returncode == 0 else "CONFLICTING"

    def _merge(self, pr: PullRequest, method: str, expected: str) -> str:
        head, base = self.tip(pr.head), self.tip(pr.base)
        if expected and expected != head:
            raise _Refused(409, "Head branch was modified. Review and try the merge again.")
        tree = self.git("merge-tree", "--write-tree", base, head)
        if tree.returncode != 0:
            raise _Refused(405, "Pull Request is not mergeable")
        parents = ["-p", base] + (["-p", head] if method == "merge" else [])
        env_ident = ["-c", "user.name=GitHub", "-c", "user.email=noreply@github.invalid"]
        made = subprocess.run(
            ["git", *env_ident, "-C", str(self.remote), "commit-tree",
             tree.stdout.split()[0], *parents, "-m", f"{pr.title} (#{pr.number})"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        commit = made.stdout.strip()
        self.git("update-ref", f"refs/heads/{pr.base}", commit, base)
        pr.state, pr.merge_commit, pr.head_oid = "MERGED", commit, head
        pr.merged_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return commit

    # ---- the answers ------------------------------------------------------------------
    def url(self, number: int) -> str:
        return f"https://{self.host}/{OWNER}/{NAME}/pull/{number}"

    def repository(self) -> dict[str, Any]:
        return {"id": "R_1", "name": NAME, "owner": {"login": OWNER}, "hasIssuesEnabled": True,
                "description": "", "hasWikiEnabled": False, "viewerPermission": "ADMIN",
                "defaultBranchRef": {"name": "main"}, "parent": None,
                "mergeCommitAllowed": True, "rebaseMergeAllowed": True,
                "squashMergeAllowed": True, "deleteBranchOnMerge": False}  # fmt: skip

    def pr_node(self, pr: PullRequest) -> dict[str, Any]:
        head = pr.head_oid or self.tip(pr.head) or ""
        if head and head not in self.checks and pr.state == "OPEN":
            for name in self.auto_checks:
                self.checks.setdefault(head, []).append(
                    Check(name, "", "", next(self.ids), next(self.ids))
                )
        contexts = [self.check_node(c) for c in self.checks.get(head, [])]
        rollup = {"nodes": [{"commit": {"oid": head, "statusCheckRollup": {
            "contexts": {"nodes": contexts, "pageInfo": {"hasNextPage": False, "endCursor": ""}}
        }}}]}  # fmt: skip
        reviews = [{"id": f"PRR_{r['id']}", "author": {"login": r["user"]}, "state": r["state"],
                    "body": r["body"], "submittedAt": "2026-12-02T00:00:00Z",
                    "commit": {"oid": r["commit_id"]}} for r in pr.reviews]  # fmt: skip
        return {
            "id": f"PR_{pr.number}", "number": pr.number, "title": pr.title, "body": pr.body,
            "state": pr.state, "url": self.url(pr.number), "closed": pr.state != "OPEN",
            "isDraft": False, "headRefName": pr.head, "headRefOid": head,
            "baseRefName": pr.base, "baseRefOid": self.tip(pr.base),
            "headRepositoryOwner": {"id": "U_1", "login": OWNER},
            "headRepository": {"id": "R_1", "name": NAME},
            "isCrossRepository": False, "maintainerCanModify": False,
            "author": {"login": "person"}, "mergeable": self._mergeable(pr),
            "mergeStateStatus": "CLEAN" if self._mergeable(pr) == "MERGEABLE" else "DIRTY",
            "mergedAt": pr.merged_at or None,
            "mergeCommit": {"oid": pr.merge_commit} if pr.merge_commit else None,
            "isInMergeQueue": False, "isMergeQueueEnabled": False,
            "statusCheckRollup": rollup, "commits": rollup,
            "reviews": {"nodes": reviews, "pageInfo": {"hasNextPage": False},
                        "totalCount": len(reviews)},
            "reviewDecision": "", "viewerMergeBodyText": "", "viewerMergeHeadlineText": "",
        }  # fmt: skip

    def check_node(self, check: Check) -> dict[str, Any]:
        done = bool(check.conclusion)
        return {"__typename": "CheckRun", "name": check.name,
                "status": "COMPLETED" if done else "IN_PROGRESS",
                "conclusion": check.conclusion or "", "startedAt": "2026-12-02T00:00:00Z",
                "completedAt": "2026-12-02T00:01:00Z" if done else "0001-01-01T00:00:00Z",
                "detailsUrl": f"https://{self.host}/{OWNER}/{NAME}/actions/runs/"
                              f"{check.run_id}/job/{check.job_id}",
                "checkSuite": {"workflowRun": {"workflow": {"name": "ci"}}}}  # fmt: skip

    def graphql(self, request: Request) -> dict[str, Any]:
        op, v = request.operation, request.variables
        if op.endswith("_fields"):  # gh's feature detection: which fields this host knows
            return {
                t: {"fields": [{"name": n} for n in FIELDS]}
                for t in re.findall(r"(\w+): __type", request.query)
            }
        if op == "UserCurrent":
            return {"viewer": {"login": "person"}}
        if op in ("RepositoryInfo", "RepositoryFindFork", "RepositoryNetwork"):
            return {"repository": self.repository(), "viewer": {"login": "person"}}
        if op == "PullRequestCreate":
            return {"createPullRequest": {"pullRequest": self.pr_node(self._create(v["input"]))}}
        if op in ("PullRequestForBranch", "PullRequestList"):
            return {"repository": {"pullRequests": self._list(v)}}
        if op == "PullRequestByNumber":
            pr = self.prs.get(int(v.get("pr_number") or v.get("number") or 0))
            if pr is None:
                raise _Refused(200, f"Could not resolve to a PullRequest with the number of {v}.")
            return {"repository": {"pullRequest": self.pr_node(pr)}}
        if op == "PullRequestMerge" or "mergePullRequest" in request.query:
            pr = self._by_id(v["input"]["pullRequestId"])
            method = str(v["input"].get("mergeMethod", "MERGE")).lower()
            self._merge(pr, method, str(v["input"].get("expectedHeadOid") or ""))
            return {"mergePullRequest": {"clientMutationId": ""}}
        if "closePullRequest" in request.query:
            pr = self._by_id(v["input"]["pullRequestId"])
            pr.state, pr.head_oid = "CLOSED", self.tip(pr.head)
            return {"closePullRequest": {"clientMutationId": ""}}
        if "addComment" in request.query:
            self._talk(self._by_id(v["input"]["subjectId"]), v["input"]["body"], "person")
            return {"addComment": {"commentEdge": {"node": {"url": ""}}}}
        raise _Refused(200, f"fake GitHub: no answer for operation {op!r}")

    def _by_id(self, node_id: str) -> PullRequest:
        return self.prs[int(node_id.removeprefix("PR_"))]

    def _create(self, given: dict[str, Any]) -> PullRequest:
        head = str(given["headRefName"]).split(":")[-1]
        if not self.tip(head):
            raise _Refused(200, f"Head ref must be a branch ({head})")
        if any(p.head == head and p.state == "OPEN" for p in self.prs.values()):
            raise _Refused(200, f"A pull request already exists for {OWNER}:{head}.")
        number = len(self.prs) + 1
        pr = PullRequest(number, head, str(given["baseRefName"]), str(given["title"]),
                         str(given.get("body") or ""))  # fmt: skip
        self.prs[number] = pr
        return pr

    def _list(self, v: dict[str, Any]) -> dict[str, Any]:
        head = v.get("headBranch") or v.get("headRefName") or ""
        states = v.get("states") or ["OPEN", "CLOSED", "MERGED"]
        found = [self.pr_node(p) for p in self.prs.values()
                 if (not head or p.head == head) and p.state in states]  # fmt: skip
        found.reverse()  # newest first, as GitHub orders them
        return {"nodes": found, "totalCount": len(found),
                "pageInfo": {"hasNextPage": False, "endCursor": ""}}  # fmt: skip

    def rest(self, method: str, path: str) -> tuple[int, Any, str]:
        """(status, JSON answer, content type) for a REST path under /api/v3/."""
        rest = unquote(path.split("?")[0]).removeprefix("/api/v3/").strip("/")
        prefix = f"repos/{OWNER}/{NAME}/"
        if rest == "":
            return 200, {}, "application/json"
        if rest == "user":
            return 200, {"login": "person"}, "application/json"
        if not rest.startswith(prefix):
            return 404, {"message": "Not Found"}, "application/json"
        rest = rest.removeprefix(prefix)
        if m := re.fullmatch(r"pulls/(\d+)/comments", rest):
            return (
                200,
                [self._comment_json(c) for c in self.prs[int(m[1])].comments],
                "application/json",
            )
        if m := re.fullmatch(r"issues/(\d+)/comments", rest):
            return (
                200,
                [self._talk_json(c) for c in self.prs[int(m[1])].issue_comments],
                "application/json",
            )
        if m := re.fullmatch(r"pulls/(\d+)/reviews", rest):
            return (
                200,
                [self._review_json(r) for r in self.prs[int(m[1])].reviews],
                "application/json",
            )
        if (m := re.fullmatch(r"git/refs/heads/(.+)", rest)) and method == "DELETE":
            self.git("update-ref", "-d", f"refs/heads/{m[1]}")
            return 204, None, "application/json"
        if re.fullmatch(r"actions/workflows/\d+", rest):
            return (
                200,
                {"id": 1, "name": "ci", "path": ".github/workflows/ci.yml", "state": "active"},
                "application/json",
            )
        if m := re.fullmatch(r"actions/runs/(\d+)", rest):
            return 200, self._run_json(int(m[1])), "application/json"
        if m := re.fullmatch(r"actions/runs/(\d+)/jobs", rest):
            return (
                200,
                {
                    "total_count": 1,
                    "jobs": [self._job_json(c) for c in self._checks(run=int(m[1]))],
                },
                "application/json",
            )
        if m := re.fullmatch(r"actions/jobs/(\d+)", rest):
            return 200, self._job_json(self._checks(job=int(m[1]))[0]), "application/json"
        if m := re.fullmatch(r"actions/runs/(\d+)/logs", rest):
            return 200, self._logs_zip(int(m[1])), "application/zip"
        if m := re.fullmatch(r"actions/jobs/(\d+)/logs", rest):
            return 200, self._checks(job=int(m[1]))[0].log, "text/plain"
        return 404, {"message": "Not Found"}, "application/json"

    def _checks(self, run: int = 0, job: int = 0) -> list[Check]:
        every = [c for cs in self.checks.values() for c in cs]
        return [c for c in every if (run and c.run_id == run) or (job and c.job_id == job)]

    def _comment_json(self, c: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": c["id"],
            "path": c["path"],
            "line": c["line"],
            "original_line": c["line"],
            "body": c["body"],
            "user": {"login": c["user"]},
            "commit_id": c["commit_id"],
            "html_url": f"https://{self.host}/{OWNER}/{NAME}/pull/1#discussion_r{c['id']}",
        }

    def _talk_json(self, c: dict[str, Any]) -> dict[str, Any]:
        url = f"https://{self.host}/{OWNER}/{NAME}/pull/1#issuecomment-{c['id']}"
        return {"id": c["id"], "body": c["body"], "user": {"login": c["user"], "type": c["type"]},
                "created_at": "2026-12-02T00:00:00Z", "html_url": url}  # fmt: skip

    def page(self, path: str, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of a REST list, as GitHub pages it: `per_page` (at most page_limit)
        and `page` from the query, and a Link header to the next page while there is one."""
        query = dict(parse_qsl(urlsplit(path).query))
        size = max(1, min(int(query.get("per_page") or 30), self.page_limit))
        number = max(1, int(query.get("page") or 1))
        shown = items[(number - 1) * size : number * size]
        if number * size >= len(items):
            return shown, {}
        after = urlencode({**query, "per_page": size, "page": number + 1})
        link = f"https://{self.host}{urlsplit(path).path}?{after}"
        return shown, {"Link": f'<{link}>; rel="next"'}

    def _review_json(self, r: dict[str, Any]) -> dict[str, Any]:
        return {"id": r["id"], "state": r["state"], "body": r["body"],
                "user": {"login": r["user"]}, "commit_id": r["commit_id"]}  # fmt: skip

    def _run_json(self, run: int) -> dict[str, Any]:
        [check] = self._checks(run=run)
        sha = next(s for s, cs in self.checks.items() if check in cs)
        base = f"https://{self.host}/api/v3/repos/{OWNER}/{NAME}/actions/runs/{run}"
        return {"id": run, "name": "ci", "head_branch": "", "head_sha": sha, "status": "completed",
                "conclusion": check.conclusion.lower(), "event": "pull_request",
                "jobs_url": f"{base}/jobs", "logs_url": f"{base}/logs", "run_attempt": 1,
                "workflow_id": 1, "created_at": "2026-12-02T00:00:00Z",
                "updated_at": "2026-12-02T00:01:00Z", "url": base,
                "html_url": f"https://{self.host}/{OWNER}/{NAME}/actions/runs/{run}"}  # fmt: skip

    def _job_json(self, check: Check) -> dict[str, Any]:
        failed = check.conclusion == "FAILURE"
        step = {
            "name": "test",
            "number": 1,
            "status": "completed",
            "conclusion": "failure" if failed else "success",
            "started_at": "2026-12-02T00:00:00Z",
            "completed_at": "2026-12-02T00:01:00Z",
        }
        return {
            "id": check.job_id,
            "run_id": check.run_id,
            "name": check.name,
            "status": "completed",
            "conclusion": check.conclusion.lower(),
            "steps": [step],
            "started_at": "2026-12-02T00:00:00Z",
            "completed_at": "2026-12-02T00:01:00Z",
            "url": f"https://{self.host}/api/v3/repos/{OWNER}/{NAME}/actions/jobs/{check.job_id}",
            "html_url": f"https://{self.host}/{OWNER}/{NAME}/actions/runs/{check.run_id}/job/{check.job_id}",
        }

    def _logs_zip(self, run: int) -> bytes:
        """A run's logs as GitHub serves them: one folder per job, a file per step."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for check in self._checks(run=run):
                stamped = "".join(f"2026-12-02T00:00:00.0000000Z {line}\n"
                                  for line in check.log.splitlines())  # fmt: skip
                archive.writestr(f"{check.name}/1_test.txt", stamped)
        return out.getvalue()


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


OPERATION = re.compile(r"\b(?:query|mutation)\s+(\w+)")


class _Handler(BaseHTTPRequestHandler):
    hub: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> Any:
        size = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(size) if size else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def _send(self, status: int, data: Any, kind: str = "application/json",
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        raw = data if isinstance(data, bytes) else (
            data.encode() if isinstance(data, str) else json.dumps(data).encode())  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("X-Oauth-Scopes", "repo, read:org, workflow")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self) -> None:
        hub, body = self.hub, self._body()
        request = Request(self.command, self.path, body)
        if self.path.startswith("/api/graphql"):
            found = OPERATION.search(request.query)
            request.operation = found.group(1) if found else ""
        with hub.lock:
            hub.requests.append(request)
            refused = hub.refuse.pop(request.operation or self.path, None)
            try:
                if refused:
                    raise _Refused(*refused)
                if request.operation or self.path.startswith("/api/graphql"):
                    self._send(200, {"data": hub.graphql(request)})
                else:
                    status, data, kind = hub.rest(self.command, self.path)
                    paged = hub.page(self.path, data) if isinstance(data, list) else (data, {})
                    self._send(status, paged[0], kind, paged[1])
            except _Refused as err:
                if err.status == 200:  # GraphQL reports its errors in a 200 answer
                    self._send(200, {"data": None, "errors": [{"message": err.message}]})
                else:
                    self._send(err.status, {"message": err.message})
            except Exception as err:  # a gap in this fake: say so, in gh's words
                self._send(500, {"message": f"fake GitHub: {type(err).__name__}: {err}"})

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle
