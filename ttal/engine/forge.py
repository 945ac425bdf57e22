"""A task's pull request, for a project that merges through a forge (`merge: github`):
push the worker's branch, open the PR (or find the one a crash left), merge it through the
forge, and tell cleanup when the remote's base holds the work. engine/forge_flow.py drives
these from `ttal go` and `ttal watch` and sends the forge's feedback to the worker.

Every push and forge call is an intent in the action journal. One that fails is retried
with backoff (projects.<name>.pr.retries, .backoff), counted in ttal's state across
restarts; after the last try it is flagged, with the reason, to the spawner and in
`ttal journal`, and waits there until a person resolves that entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ttal import faults
from ttal.adapters import git, git_remote
from ttal.adapters.forges.base import Forge
from ttal.adapters.forges.github import GitHub
from ttal.adapters.store.forge import Attempts
from ttal.config.model import Project
from ttal.core.forge import PullState, slug_from_url
from ttal.core.task_view import TaskView
from ttal.engine import journal
from ttal.engine.app import App
from ttal.engine.journal import Intent
from ttal.engine.mesh import tell
from ttal.errors import ExternalError, PreconditionFailed, TtalError, Waiting

T = TypeVar("T")


def uses_forge(project: Project) -> bool:
    return project.merge != "local"


def forge_of(project: Project) -> Forge:
    slug = project.pr.repo
    if not slug:
        where = git_remote.url(project.repo, project.remote)
        slug = slug_from_url(where)
        if not slug:
            raise PreconditionFailed(
                f"project {project.name}: the URL of remote {project.remote} ({where}) does "
                "not name a repository on a forge; nothing was pushed",
                hint=f"set projects.{project.name}.pr.repo: OWNER/REPO in ttal.yaml",
            )
    return GitHub(slug)


def pr_number(task: TaskView) -> int:
    tail = task.pr.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# ---- retries with backoff, through the journal ---------------------------------------------


def attempt(app: App, task: TaskView, project: Project, action: str,
            do: Callable[[int], T], **detail: str) -> T:  # fmt: skip
    """Run one push or forge call as a journal intent (`do` gets its id). A failure is
    counted and retried after a backoff (Waiting until then); the last allowed one is
    flagged to the spawner and in `ttal journal`."""
    limit, seen = project.pr.retries, app.state.forge_attempts(task.uuid, action)
    key = f"forge.{action}:{task.uuid}"
    if seen.failures >= limit:
        if any(i.key == key for i in app.state.intents(("flagged",))):
            raise ExternalError(
                f"task {task.short}: {action} gave up after {seen.failures} tries: "
                f"{seen.reason}; nothing more is tried",
                hint="fix the cause, then `ttal journal resolve <id>` and `ttal go`",
            )
        seen = _reset(app, task, action)  # a person resolved the flagged entry: try again
    if seen.failures and time.time() < seen.next_at:
        wait = seen.next_at - time.time()
        raise Waiting(f"task {task.short}: {action} failed ({seen.failures}/{limit}): "
                      f"{seen.reason}; next try in {wait:.0f}s")  # fmt: skip
    intent_id = journal.begin(app, f"forge.{action}", key, task.uuid, **detail)
    try:
        value = do(intent_id)
    except TtalError as err:
        _failed(app, task, project, action, intent_id, seen.failures + 1, err.message)
        raise  # _failed raises its own; this keeps type checkers sure of it
    journal.finish(app, intent_id)
    if seen.failures:
        app.state.forge_succeeded(task.uuid, action)
    return value


def _reset(app: App, task: TaskView, action: str) -> Attempts:
    app.state.forge_succeeded(task.uuid, action)
    return app.state.forge_attempts(task.uuid, action)


def _failed(app: App, task: TaskView, project: Project, action: str, intent_id: int,
            failures: int, reason: str) -> None:  # fmt: skip
    limit = project.pr.retries
    if failures >= limit:
        note = f"{action} gave up after {failures} tries: {reason}"
        journal.finish(app, intent_id, "flagged", note)
        app.state.forge_failed(task.uuid, action, failures, 0.0, reason)
        app.state.event("forge-flagged", task.uuid, "ttal", note)
        text = (f"task {task.short}: {note}. Nothing more is tried until you fix it and "
                f"`ttal journal resolve {intent_id}`, then `ttal go {task.short}`.")  # fmt: skip
        tell(app, task.spawner or "human", text, key=f"forge-flagged:{intent_id}",
             task=task.uuid, sender="ttal")  # fmt: skip
        raise ExternalError(f"task {task.short}: {note}; flagged in `ttal journal` "
                            f"(#{intent_id})", hint="fix the cause, then resolve it")  # fmt: skip
    delay = project.pr.backoff * 2 ** (failures - 1)
    journal.finish(app, intent_id, "skipped",
                   f"try {failures}/{limit} failed: {reason}; next in {delay:.0f}s")  # fmt: skip
    app.state.forge_failed(task.uuid, action, failures, time.time() + delay, reason)
    app.state.event("forge-retry", task.uuid, "ttal", f"{action} {failures}/{limit}: {reason}")
    raise Waiting(f"task {task.short}: {action} failed ({failures}/{limit}): {reason}; "
                  f"next try in {delay:.0f}s")  # fmt: skip


# ---- push and open --------------------------------------------------------------------------


def push(app: App, task: TaskView, project: Project) -> str:
    """Push the worker's branch to the remote: a fast-forward, or with a lease on what the
    remote holds when a round rewrote it (a rebase). Never the base branch. "" when the
    remote already holds it."""
    branch, repo = task.branch, project.repo
    if not branch or branch == project.base:
        raise PreconditionFailed(f"task {task.short}: will not push {branch or 'no branch'!r} "
                                 f"(base {project.base}); nothing was pushed")  # fmt: skip
    local = git.rev(repo, f"refs/heads/{branch}")
    if not local:
        raise PreconditionFailed(f"task {task.short}: its branch {branch} is gone; nothing pushed")
    remote = git_remote.remote_tip(repo, project.remote, branch)
    if remote == local:
        return ""
    lease = None if not remote or git.is_ancestor(repo, remote, local) else remote
    if lease and lease not in app.state.forge_pushed(task.uuid):
        _diverged(app, task, project, remote)

    def do(intent_id: int) -> str:
        result = git_remote.push(repo, project.remote, local, branch, lease)
        if not result.ok:
            why = git_remote.refusal(result)
            raise ExternalError(f"git push to {project.remote} refused: {why}")
        return f"pushed {branch} ({local[:10]}) to {project.remote}" + (
            f", rewriting {remote[:10]} with a lease" if lease else "")  # fmt: skip

    did = attempt(app, task, project, "push", do, repo=str(repo), remote=project.remote,
                  branch=branch, commit=local)  # fmt: skip
    faults.point("forge.pushed")
    app.state.event("forge-pushed", task.uuid, app.caller.name, did)
    return did


def _diverged(app: App, task: TaskView, project: Project, remote: str) -> None:
    """The remote branch holds a commit ttal never pushed (someone pushed to it on the
    forge): a lease would throw it away. Refuse, and tell the spawner once."""
    message = (
        f"task {task.short}: {project.remote}/{task.branch} holds {remote[:10]}, which "
        "ttal did not push and the local branch does not contain; nothing was pushed"
    )
    hint = (f"bring it into the branch in the worktree (`git fetch {project.remote} "
            f"{task.branch}` and rebase or merge), then `ttal go {task.short}`")  # fmt: skip
    tell(app, task.spawner or "human", f"{message}. {hint}.", task=task.uuid, sender="ttal",
         key=f"forge:{task.uuid}:diverged:{remote}")  # fmt: skip
    raise PreconditionFailed(message, hint=hint)


def ensure_pr(app: App, task: TaskView, project: Project, forge: Forge) -> tuple[PullState, str]:
    """The task's pull request: the one on the task, else the one the forge has for its
    branch (a crash after opening it), else a new one. Its URL is recorded on the task."""
    if number := pr_number(task):
        return forge.status(number), ""

    def do(intent_id: int) -> PullState:
        found = forge.find(task.branch)
        if found is None:
            found = forge.open(task.branch, project.base, task.description, pr_body(task))
            journal.update(app, intent_id, number=found.number)
            faults.point("forge.opened")
        return found

    pr = attempt(app, task, project, "open", do, repo=str(project.repo),
                 remote=project.remote, branch=task.branch)  # fmt: skip
    app.tw.set(task.uuid, ttal_pr=pr.url)
    app.state.event("pr-opened", task.uuid, "ttal", pr.url)
    return pr, f"PR #{pr.number} {pr.url}"


def pr_body(task: TaskView) -> str:
    lines = [task.description, "", f"Task {task.uuid} (ttal)."]
    if task.annotations:
        lines += ["", "Notes and review verdicts:", *(f"- {a}" for a in task.annotations)]
    if task.reviewed:
        lines += ["", f"Approved by the review lead at {task.reviewed}."]
    return "\n".join(lines) + "\n"


def publish(app: App, task: TaskView, project: Project) -> tuple[Forge, PullState, list[str]]:
    """Push the branch, then find or open its PR: each idempotent, so a crash between
    them finds the PR instead of opening a second."""
    forge = forge_of(project)
    did = [text for text in (push(app, task, project),) if text]
    pr, opened = ensure_pr(app, task, project, forge)
    if did and pr.head != git.rev(project.repo, f"refs/heads/{task.branch}"):
        pr = forge.status(pr.number)  # the forge's view after our push
    return forge, pr, [*did, *([opened] if opened else [])]


# ---- after the merge ------------------------------------------------------------------------


def landed(app: App, project: Project, task: TaskView, tip: str) -> bool:
    """Does the remote's base hold the branch's work? Its commits, or (squash, rebase) the
    forge's merge of exactly this commit. Cleanup deletes the local branch only then."""
    base_tip = git_remote.fetch_base(project.repo, project.remote, project.base)
    if git.is_ancestor(project.repo, tip, base_tip):
        return True
    number = pr_number(task)
    if not number:
        return False
    pr = forge_of(project).status(number)
    return (pr.state == "merged" and pr.head == tip and bool(pr.merge_commit)
            and git.is_ancestor(project.repo, pr.merge_commit, base_tip))  # fmt: skip


# ---- recovery ------------------------------------------------------------------------------


def settle(app: App, item: Intent) -> tuple[str, str]:
    """An intent a crash left pending: look at the remote and the forge, never retry blind.
    When they cannot be reached it stays "unknown", and the next recovery looks again."""
    try:
        return _settle(app, item)
    except TtalError as err:
        return "unknown", f"could not look at the remote or the forge: {err.message}"


def _settle(app: App, item: Intent) -> tuple[str, str]:
    from pathlib import Path

    detail, repo = item.detail, Path(str(item.detail.get("repo", "")))
    remote, branch = str(detail.get("remote", "")), str(detail.get("branch", ""))
    project = next((p for p in app.cfg.projects.values() if p.repo == repo), None)
    if project is None:
        return "flagged", f"{item.action}: no project has repo {repo} now; check by hand"
    if item.action == "forge.push":
        there = git_remote.remote_tip(repo, remote, branch)
        if there == detail.get("commit"):
            return "done", f"{remote} holds {branch} at {there[:10]}"
        return "skipped", "the push did not happen; the next `ttal go` pushes after checking"
    forge = forge_of(project)
    found = forge.find(branch) if branch else None
    if item.action == "forge.open":
        if found is None:
            return "skipped", "no PR was opened; the next `ttal go` opens it after checking"
        app.tw.set(item.task, ttal_pr=found.url)
        return "done", f"found PR #{found.number} {found.url}; recorded on the task"
    if item.action == "forge.merge":
        if found is not None and found.state == "merged":
            return "done", f"PR #{found.number} is merged; the next `ttal go` finishes"
        if found is not None and found.state == "open":
            return (
                "skipped",
                f"PR #{found.number} is still open; the next `ttal go` merges "
                "it only while its head is the approved commit",
            )
    if item.action == "forge.close" and found is not None and found.state != "open":
        return "done", f"PR #{found.number} is {found.state}"
    return "flagged", f"{item.action}: PR state unclear ({found.state if found else 'none'})"
