"""The pull request follows the task, for a project that merges through a forge.

`ttal go` at the merge step (engine/drive.py routes it here) pushes the approved branch,
opens or finds its PR, sends the forge's feedback to the worker, and merges the PR when
its checks passed and its head is the commit the review lead approved; `+merged` then
leads to today's cleanup (engine/merge.finish). `ttal watch` does the same for every such
task each pass: earlier stages get their pushes and feedback, approved ones a `ttal go`,
deleted ones their PR closed. `open_at: coded` opens the PR in the worker's `ttal go` that
adds +coded (`coded`); one that failed there is retried by `ttal watch`.

Feedback goes to the worker once each, across restarts: a failed check once per pushed
commit (the failing jobs' names and the last lines of their logs), a review comment once
per comment (with its file and line), a person's comment in the PR's conversation once (not
ttal's own, core/forge.OWN_MARK, nor a bot's), a conflict once per head and base. What was sent is
in ttal's state (adapters/store/forge.py) and each message has its own key, so a crash
between the two sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from ttal import faults
from ttal.adapters import git, git_remote, locks
from ttal.adapters.forges.base import Forge
from ttal.config.model import Project
from ttal.core.forge import (
    PullState,
    by_ttal,
    ci_text,
    closed_text,
    comment_text,
    conflict_text,
    merge_verdict,
    tail,
)
from ttal.core.pipeline import Action, Caller, Stage, current_stage, next_step
from ttal.core.task_view import TaskView
from ttal.engine import forge as forges
from ttal.engine.app import App
from ttal.engine.lookup import branch_unreviewed, pipeline_for, project_for, task_view
from ttal.engine.mesh import tell
from ttal.engine.recovery import recover
from ttal.errors import PreconditionFailed, TtalError, Waiting


def merge_task(app: App, task: TaskView, stage: Stage) -> str:
    """The MERGE step through the forge. Waiting (with what was done) until it may merge."""
    project = project_for(app, task)
    if task.worktree and (dirty := git.dirty_paths(Path(task.worktree))):
        raise PreconditionFailed(
            f"worktree {task.worktree} has uncommitted changes ({dirty[0]}…) that were not "
            "reviewed; nothing was pushed",
            hint="commit them for another review round, or remove them",
        )
    forge, pr, did = forges.publish(app, task, project)
    did += relay(app, task, project, forge, pr)
    approved = task.reviewed or git.rev(project.repo, f"refs/heads/{task.branch}")
    verdict = merge_verdict(pr, approved)
    if verdict.action == "merge":
        forges.attempt(app, task, project, "merge",
                       lambda _id: forge.merge(pr.number, project.pr.merge_method, pr.head,
                                               project.pr.delete_branch),
                       repo=str(project.repo), remote=project.remote, branch=task.branch,
                       head=pr.head)  # fmt: skip
        faults.point("forge.merged")
        return _merged(app, task, stage, pr, "merged", did)
    if verdict.action == "merged":
        return _merged(app, task, stage, pr, "was merged on the forge", did)
    if verdict.action == "closed":
        tell(
            app,
            task.spawner or "human",
            f"task {task.short}: {verdict.reason}",
            key=f"forge:{task.uuid}:closed:{pr.number}",
            task=task.uuid,
            sender="ttal",
        )
    raise PullWaiting(did, verdict.reason)


class PullWaiting(Waiting):
    """The merge step waits on the forge; `did` is what it did meanwhile (a push, feedback
    sent), which `ttal watch` reports, and not the waiting itself, pass after pass."""

    def __init__(self, did: list[str], reason: str) -> None:
        super().__init__("; ".join([*did, reason]))
        self.did = did


def _merged(app: App, task: TaskView, stage: Stage, pr: PullState, how: str,
            did: list[str]) -> str:  # fmt: skip
    app.tw.add_tags(task.uuid, [stage.tag])
    app.state.event("merged", task.uuid, app.caller.name, f"PR #{pr.number} {how}: {pr.url}")
    return "; ".join([*did, f"PR #{pr.number} {how} ({pr.url}); +{stage.tag}"])


# ---- feedback to the worker -----------------------------------------------------------------


def relay(app: App, task: TaskView, project: Project, forge: Forge, pr: PullState) -> list[str]:
    """Send the worker what the forge says that it has not been sent: failed checks,
    comments (inline and in the conversation) and requested changes, a conflict."""
    to = task.worker_session
    if not to or pr.state != "open":
        return []
    sent = app.state.forge_sent(task.uuid)
    did: list[str] = []
    if pr.failed and not pr.pending and f"ci:{pr.head}" not in sent:
        logs = {c.name: tail(forge.failed_log(c)) for c in pr.failed}
        _send(app, task, to, f"ci:{pr.head}", ci_text(task.short, pr, logs))
        did.append(f"told {to}: checks failed at {pr.head[:10]}")
    if pr.conflict:
        base_tip = git_remote.fetch_base(project.repo, project.remote, project.base)
        key = f"conflict:{pr.head}:{base_tip}"
        if key not in sent:
            base = f"{project.remote}/{project.base}"
            _send(app, task, to, key, conflict_text(task.short, pr, base))
            did.append(f"told {to}: PR #{pr.number} conflicts with {base}")
    seen = {key.partition(":")[2] for key in sent if key.startswith("said:")}
    for note in forge.comments_since(pr.number, seen):
        if by_ttal(note.body):  # ttal's own (posted with the user's login): not news
            continue
        text = comment_text(task.short, pr.number, note.author, note.body, note.where, note.kind)
        _send(app, task, to, f"said:{note.id}", text)
        did.append(f"told {to}: {note.author}'s {note.kind} {note.where}".rstrip())
    return did


def _send(app: App, task: TaskView, to: str, key: str, text: str) -> None:
    # The message's own key makes a resend after a crash (sent, not yet marked) a no-op.
    tell(app, to, text, key=f"forge:{task.uuid}:{key}", task=task.uuid, sender="ttal")
    app.state.mark_forge_sent(key, task.uuid)


# ---- `ttal watch` ------------------------------------------------------------------------------


def watch(app: App, go: Callable[[str], list[str]]) -> list[tuple[str, str, list[str]]]:
    """One pass over the tasks of projects that merge through a forge: (task, state, did)
    for each that had something done or failed. `go` runs `ttal go` on an approved task."""
    projects = {p.name for p in app.cfg.projects.values() if forges.uses_forge(p)}
    if not projects:
        return []
    rows = []
    for task in app.tw.export("status:pending", "ttal_branch.any:"):
        if task.get("project") in projects:
            rows.append(_watch_one(app, task["uuid"], go))
    for task in app.tw.export("status:deleted", "ttal_pr.any:"):
        if task.get("project") in projects:
            view = task_view(task)
            rows.append(_guard(view.uuid, partial(close_deleted, app, view)))
    return [row for row in rows if row[2]]


def _watch_one(app: App, uuid: str,
               go: Callable[[str], list[str]]) -> tuple[str, str, list[str]]:  # fmt: skip
    def once() -> list[str]:
        task = app.tw.get(uuid)
        pipeline, view = pipeline_for(app, task), task_view(task)
        here = current_stage(pipeline, view)
        if here is not None and here.kind == "merge":  # as engine/drive.py decides it
            view = replace(view, unreviewed=branch_unreviewed(app, view))
        step = next_step(view, pipeline, Caller())
        with locks.held(locks.task_lock(app.lock_dir, uuid)):
            if step.action != Action.MERGE or step.stage is None:
                return sync(app, task_view(app.tw.get(uuid)))
            recover(app, uuid)  # what a crashed run of this task left half done
            try:
                did = [merge_task(app, task_view(app.tw.get(uuid)), step.stage)]
            except PullWaiting as err:
                return err.did
        return did + go(uuid)  # merged: the rest of `ttal go` (cleanup, the spawner told)

    return _guard(uuid, once)


def _guard(uuid: str, do: Callable[[], list[str]]) -> tuple[str, str, list[str]]:
    try:
        return uuid, "ok", do()
    except Waiting as err:  # e.g. a retry's backoff: `ttal go` says it; no news each pass
        return uuid, f"waiting: {err.message}", []
    except TtalError as err:
        return uuid, "error", [err.message]


def sync(app: App, task: TaskView) -> list[str]:
    """Before the merge step: push new commits to the PR (opened at +coded when the
    project says so) and send the worker the forge's feedback."""
    project = project_for(app, task)
    if not task.pr and not (project.pr.open_at == "coded" and _coded(app, task)):
        return []
    forge, pr, did = forges.publish(app, task, project)
    if pr.state == "merged":
        text = (f"task {task.short}: PR #{pr.number} ({pr.url}) was merged on the forge "
                "before ttal's review approved it; the task is left as it is for you")  # fmt: skip
        if tell(app, task.spawner or "human", text, key=f"forge:{task.uuid}:early-merge",
                task=task.uuid, sender="ttal"):  # fmt: skip
            did.append(f"told {task.spawner or 'human'}: PR merged before approval")
    return did + relay(app, task, project, forge, pr)


def coded(app: App, uuid: str) -> list[str]:
    """The worker's `ttal go` just recorded a stage with commits as done (engine/drive.py):
    push and open the PR now when the project opens it at +coded, not at the next `ttal
    watch` pass. A failure is counted for its backoff (engine/forge.attempt) and left to
    `ttal watch`, which tries again: it fails neither the worker's `ttal go` nor its tag."""
    try:
        return sync(app, task_view(app.tw.held(uuid)))
    except TtalError as err:
        return [f"not on the forge yet: {err.message}"]


def _coded(app: App, task: TaskView) -> bool:
    """The worker's first round is done: a stage that needs commits has its tag."""
    pipeline = pipeline_for(app, {"uuid": task.uuid, "tags": sorted(task.tags)})
    return any(s.kind == "work" and s.commits and s.tag in task.tags for s in pipeline.stages)


def close_deleted(app: App, task: TaskView) -> list[str]:
    """A deleted task's open PR is closed, with a comment that says why; once."""
    number = forges.pr_number(task)
    if not number or "closed" in app.state.forge_sent(task.uuid):
        return []
    project = project_for(app, task)
    forge = forges.forge_of(project)
    did = []
    if forge.status(number).state == "open":
        text = closed_text(task.short, task.description)
        forges.attempt(
            app,
            task,
            project,
            "close",
            lambda _id: forge.close(number, text),
            repo=str(project.repo),
            remote=project.remote,
            branch=task.branch,
        )
        did.append(f"closed PR #{number}: the task was deleted")
    app.state.mark_forge_sent("closed", task.uuid)
    return did
