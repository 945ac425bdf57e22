"""Carry out a plan (core/plans.py): the writes of `ttal go`'s steps, in the order that
keeps a crash recoverable. Locks serialise what races (one repo's worktrees), each external
mutation is a journal intent, and each fault point marks a crash the crash test covers
(tests/test_crash.py). The end of the pipeline (engine/merge.py: cleanup, finish) writes
what it finds in the world, not a plan: each part checks before it acts."""

from __future__ import annotations

from functools import partial

from ttal import faults
from ttal.adapters import git, git_merge, locks
from ttal.core.plans import (
    AssignPlan,
    BriefPlan,
    CompletePlan,
    MergePlan,
    Message,
    NewRoundPlan,
    ReviewerPlan,
    ReviewStartPlan,
    SpawnPlan,
)
from ttal.engine import journal, mesh, spawn_queue, usage
from ttal.engine.app import App
from ttal.engine.sessions import SessionPlan, start_session


def send(app: App, message: Message, task: str) -> bool:
    return mesh.tell(app, message.to, message.text, key=message.key, task=task,
                     sender=message.sender)  # fmt: skip


def spawn(app: App, plan: SpawnPlan, running: set[str]) -> str:
    """Facts first, so a crash later still knows where the work lives (recorded in ttal's
    store: the next read writes them to the task, engine/reconcile.py); then the worktree,
    the session, and one write of the facts and the session's with `task start`, made
    before the caller lets go of the spawn lock (the limits count the tasks with sessions)."""
    if plan.facts:
        app.tw.set(plan.uuid, **plan.facts)
    faults.point("spawn.facts")
    repo = plan.where.repo
    with (
        locks.held(locks.repo_lock(app.lock_dir, repo)),
        journal.intent(
            app,
            "worktree.add",
            f"wt:{plan.worktree}",
            plan.uuid,
            path=str(plan.worktree),
            repo=str(repo),
            branch=plan.branch,
        ),  # fmt: skip
    ):
        git.ensure_worktree(repo, plan.worktree, plan.branch, plan.where.base)
    faults.point("spawn.worktree")
    session = SessionPlan(plan.session, "worker", plan.runtime, plan.worktree, plan.prompt,
                          plan.uuid, dict(plan.meta))  # fmt: skip
    with journal.intent(app, "session.start", f"session:{plan.session}", plan.uuid,
                        name=plan.session):  # fmt: skip
        session_id = start_session(app, session, running)
    faults.point("spawn.session")
    app.tw.set(plan.uuid, **plan.session_facts(session_id))
    app.tw.flush(plan.uuid)
    if session_id:
        spawn_queue.record_spawn(app, plan.uuid, plan.where.project, plan.runtime)
    app.state.event("spawned", plan.uuid, app.caller.name, f"{plan.session} on {plan.branch}")
    return f"spawned worker {plan.session} on {plan.branch} ({plan.worktree})"


def brief(app: App, plan: BriefPlan) -> str:
    usage.new_stage(app, plan.message.to, plan.stage)  # before it is told: what it spends
    send(app, plan.message, plan.uuid)  # from now on is this stage's
    app.tw.set(plan.uuid, ttal_stage=plan.stage)
    return f"briefed worker {plan.message.to} for stage {plan.stage}"


def complete(app: App, plan: CompletePlan) -> str:
    if plan.annotation:
        app.tw.annotate(plan.uuid, plan.annotation)
    app.tw.add_tags(plan.uuid, [plan.tag])
    faults.point("advance.coded")
    app.state.event("tagged", plan.uuid, app.caller.name, plan.tag)
    return f"+{plan.tag}"


def start_reviewer(app: App, plan: ReviewerPlan) -> str:
    session = SessionPlan(plan.session, "reviewer", plan.runtime, plan.workdir, plan.prompt,
                          plan.uuid, dict(plan.meta), read_only=True)  # fmt: skip
    with journal.intent(app, "session.start", f"session:{plan.session}", plan.uuid,
                        name=plan.session):  # fmt: skip
        start_session(app, session)
    return plan.session


def start_review(app: App, plan: ReviewStartPlan) -> str:
    name = start_reviewer(app, plan.reviewer)
    faults.point("advance.reviewer")
    app.tw.modify(plan.reviewer.uuid, *plan.modify)
    app.state.event("review-started", plan.reviewer.uuid, app.caller.name, name)
    return f"spawned review lead {name}; +{plan.review_tag}"


def new_round(app: App, plan: NewRoundPlan, reviewer: ReviewerPlan | None) -> str:
    """`reviewer`: the review lead to start first, when its session is gone."""
    if plan.annotation:
        app.tw.annotate(plan.uuid, plan.annotation)
    app.tw.set(plan.uuid, ttal_review=plan.review)
    if reviewer is not None:
        start_reviewer(app, reviewer)
    send(app, plan.message, plan.uuid)
    app.state.event("review-round", plan.uuid, app.caller.name, str(plan.round))
    return f"asked {plan.reviewer} for review round {plan.round}"


def merge(app: App, plan: MergePlan) -> git_merge.MergeResult:
    """Merge under the repo lock and a journal intent; the caller reports a conflict."""
    repo, base = plan.where.repo, plan.where.base
    with journal.intent(app, "merge", f"merge:{plan.branch}", plan.uuid, repo=str(repo),
                        base=base, branch=plan.branch) as intent_id:  # fmt: skip
        record = partial(journal.update, app, intent_id)
        return git_merge.merge(repo, plan.branch, base, plan.message, record)


def merged(app: App, plan: MergePlan, result: git_merge.MergeResult) -> str:
    app.tw.add_tags(plan.uuid, [plan.tag])
    faults.point("merge.tagged")
    how = "was already on" if result.already else "merged into"
    base = plan.where.base
    app.state.event("merged", plan.uuid, app.caller.name, f"{plan.branch} {how} {base}")
    return f"{plan.branch} {how} {base} ({result.commit[:10]}); +{plan.tag}"


def assign(app: App, plan: AssignPlan, role: str) -> str:
    app.tw.set(plan.uuid, **plan.facts)
    app.tw.flush(plan.uuid)  # before the owner hears of it: it may look for its task unlocked
    app.state.dequeue_assignment(plan.uuid, plan.stage)
    send(app, plan.message, plan.uuid)
    app.state.set_status(plan.owner, "busy", "assigned")  # until its runtime says otherwise
    app.state.event("assigned", plan.uuid, app.caller.name, f"{plan.stage} to {plan.owner}")
    return f"assigned stage {plan.stage} to {plan.owner} ({role})"
