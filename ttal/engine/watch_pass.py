"""One pass of the watchdog (`ttal watch`). A pass looks at every agent that should be
running (the workers and review leads of pending tasks, and the persistent agents started
with `ttal up`), restarts the dead ones within limits, alerts the spawner about deaths,
stuck agents and idle workers with uncommitted changes, then runs the queued deliveries and
role assignments. Its decisions are in ttal.core.watchdog; this module looks and acts
(commands/watch.py is the command around it). An agent's `ttal heartbeat` counts as output
for the stuck check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ttal.adapters import git, locks
from ttal.config.model import Limits
from ttal.core.durations import ago
from ttal.core.pipeline import Action, Caller, Step, current_stage, last_review_stage, next_step
from ttal.core.task_view import TaskView
from ttal.core.watchdog import (
    Policy,
    Target,
    WatchRecord,
    after_restart,
    death_text,
    dirty_text,
    on_activity,
    on_alive,
    on_dead,
    on_dirty,
    stuck_text,
    worst,
)
from ttal.engine import (
    budgets,
    drive,
    mesh,
    reconcile,
    review_rounds,
    spawn_queue,
    workers,
)
from ttal.engine.agents import agent_state
from ttal.engine.agents import up as agents_up
from ttal.engine.app import App
from ttal.engine.lookup import branch_unreviewed, check_paths, pipeline_for, task_view
from ttal.engine.queues import deliver_all
from ttal.errors import ExternalError, PreconditionFailed, TtalError, Waiting

# The steps of a person's `ttal go` that restart a missing session of this kind and do
# nothing else. Elsewhere go would advance the task (start a review round, merge), which is
# not the watchdog's call: it restarts the session directly instead.
GO_RESTARTS = {
    "worker": (Action.ENSURE_WORKER, Action.BRIEF_WORKER),
    "reviewer": (Action.AWAIT_REVIEW,),
}
WORKERS_TURN = (Action.ENSURE_WORKER, Action.BRIEF_WORKER, Action.NEW_ROUND)


@dataclass(frozen=True)
class Probe:
    """One look at tmux for the whole pass."""

    live: set[str]  # sessions whose agent pane runs
    sessions: set[str]
    activity: dict[str, float]
    heartbeats: dict[str, tuple[float, str]]
    now: float


@dataclass
class Row:
    agent: str
    kind: str
    task: str = ""
    state: str = ""
    health: str = ""
    did: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "kind": self.kind, "task": self.task, "state": self.state,
                "health": self.health, "did": self.did}  # fmt: skip


def watch_pass(app: App) -> list[Row]:
    """One pass; serialised so a cron pass and a foreground loop never restart one agent
    twice."""
    with locks.held(app.lock_dir / "watch.lock"):
        policy = _policy(app.cfg.limits)
        # First what Taskwarrior lost of ttal's writes (a person's report, 2.6): the agents
        # below are judged by the tasks as ttal wrote them, and a task stored twice (its
        # pending copy names a worker that finished) is stored once. Not when Taskwarrior
        # shows no tasks at all beside ttal's live ones: it is not reading the user's data.
        fixed = reconcile.sweep(app, evidence="watch")
        # Usage first, then budgets: a session over its budget is ended in this very pass,
        # and its task is held (targets() leaves it out), so nothing restarts it.
        probe = _probe(app)
        spent = budgets.check(app, probe.sessions)
        probe = _probe(app) if spent else probe
        watched = [(t, _check_safely(app, t, probe, policy)) for t in targets(app)]
        rows = [_journal_row(item) for item in fixed] + [_budget_row(c) for c in spent]
        rows += [row for _, row in watched]
        rows += _record_health(app, watched)
        rows += _forge(app)
        rows += _deliveries(app)
    return rows


# ---- what to watch -----------------------------------------------------------------------


def _policy(limits: Limits) -> Policy:
    return Policy(limits.restart_limit, float(limits.restart_backoff), float(limits.stuck_after))


def targets(app: App) -> list[Target]:
    found = []
    for task in app.tw.export("status:pending"):
        if task.get("ttal_session") or task.get("ttal_reviewer"):
            found += _task_targets(app, task)
    for agent in (a for a in app.cfg.agents.values() if a.persistent):
        # Up by intent: started with `ttal up` and not stopped with `ttal down` since, or
        # reporting to ttal although started some other way (`down` clears the report).
        starter = app.state.started_by(agent.name)
        status = app.state.status(agent.name)
        if (starter is None and status is None) or budgets.holding(app):
            continue
        # Only a busy (or never ready) manager should be producing output: one without a
        # runtime signal cannot be told apart from one waiting for its next message.
        busy = status is not None and status.state in ("busy", "starting", "waiting")
        found.append(Target(agent.name, "manager", starter or "human", expected=busy))
    return found


def _task_targets(app: App, task: dict[str, Any]) -> list[Target]:
    try:
        pipeline = pipeline_for(app, task)
    except TtalError:
        return []  # a task no pipeline matches has no agents of ours
    view = task_view(task)
    if view.health.startswith("budget:") or budgets.holding(app, view.uuid, view.project):
        return []  # stopped at its budget: kept as it is until a person approves more
    stage = current_stage(pipeline, view)
    spawner = view.spawner or "human"
    found = []
    if view.worker_session and stage is not None and stage.kind == "work" and not stage.role:
        turn = next_step(view, pipeline, Caller()).action in WORKERS_TURN
        found.append(Target(view.worker_session, "worker", spawner, view, turn))
    if view.reviewer and view.review_state == "reviewing":
        found.append(Target(view.reviewer, "reviewer", spawner, view))
    return found


def _probe(app: App) -> Probe:
    fmt = "#{session_name}\t#{pane_id}\t#{pane_dead}\t#{@ttal_pane}"
    result = app.tmux.call("list-panes", "-a", "-F", fmt)
    if not result.ok and not any(s in result.err for s in ("no server", "error connecting")):
        # Never read a tmux failure as "every agent died": that would restart them all.
        raise ExternalError(f"tmux list-panes failed: {result.err.strip()}; nothing was done")
    live, sessions = set(), set()
    for line in result.out.splitlines() if result.ok else []:
        session, pane, dead, agent_pane = [*line.split("\t"), "", "", ""][:4]
        sessions.add(session)
        if dead != "1" and pane == (agent_pane or pane):
            live.add(session)
    return Probe(live, sessions, app.tmux.activity(), app.state.heartbeats(), time.time())


# ---- one agent ---------------------------------------------------------------------------


def _check_safely(app: App, target: Target, probe: Probe, policy: Policy) -> Row:
    try:
        return _check(app, target, probe, policy)
    except TtalError as err:  # one agent's trouble must not stop the pass for the others
        app.state.event("watch-error", target.uuid, "ttal", f"{target.name}: {err.message}")
        return Row(target.name, target.kind, target.uuid, "error", "", [err.message])


def _check(app: App, target: Target, probe: Probe, policy: Policy) -> Row:
    rec = app.state.watch_record(target.name)
    row = Row(target.name, target.kind, target.uuid)
    if target.name not in probe.live:
        rec = _dead(app, target, rec, probe, policy, row)
    else:
        rec = _alive(app, target, rec, probe, policy, row)
    app.state.save_watch(rec)
    return row


def _dead(app: App, target: Target, rec: WatchRecord, probe: Probe, policy: Policy,
          row: Row) -> WatchRecord:  # fmt: skip
    code = _exit_status(app, target.name)
    death = on_dead(rec, probe.now, policy)
    rec = death.record
    row.state, row.health = f"{rec.health} (exit {code})", f"{rec.health}:{target.name}:{code}"
    if death.alert:  # before the restart's own event: `ttal insights` reads the episode so
        app.state.event(f"watch-{death.alert}", target.uuid, "ttal", row.health)
    if death.restart:
        rec = _restart(app, target, rec, probe, policy, row)
    elif death.wait:
        row.did.append(f"next restart in {ago(death.wait)}")
    if death.alert:
        log = app.run_dir / f"{target.name}.log"
        text = death_text(target, rec, code, policy, row.did, log)
        _alert(app, target, f"{death.alert}:{target.name}:{rec.deaths}", text, row)
    return rec


def _restart(app: App, target: Target, rec: WatchRecord, probe: Probe, policy: Policy,
             row: Row) -> WatchRecord:  # fmt: skip
    try:
        how = respawn(app, target, probe)
    except Waiting as err:  # e.g. spawn_queue.max_workers: not an attempt; the next pass tries
        row.did.append(f"restart waits: {err.message}")
        return rec
    except TtalError as err:
        rec = after_restart(rec, probe.now, policy, started=False)
        row.did.append(f"restart {rec.restarts}/{policy.limit} failed: {err.message}")
        app.state.event("watch-restart-failed", target.uuid, "ttal", row.did[-1])
        return rec
    rec = after_restart(rec, probe.now, policy, started=True)
    row.did.append(f"restarted {how} ({rec.restarts}/{policy.limit})")
    app.state.event("watch-restarted", target.uuid, "ttal", f"{target.name}: {row.did[-1]}")
    return rec


def respawn(app: App, target: Target, probe: Probe) -> str:
    """Start the agent again: a manager with `ttal up`, a worker or review lead with `ttal go`
    where that is all go would do, else with the step that restarts it."""
    if target.name in probe.sessions:
        app.tmux.kill(target.name)  # its agent's pane is dead: only a shell is left
    if target.task is None:
        [result] = agents_up(app, [target.name])
        if result.get("failed"):
            raise ExternalError(f"{target.name} {result['action']}")
        return "with ttal up"
    uuid = target.task.uuid
    if _person_step(app, app.tw.get(uuid)).action in GO_RESTARTS[target.kind]:
        drive.go(app, uuid)
        return "with ttal go"
    with locks.held(locks.task_lock(app.lock_dir, uuid)):
        task = app.tw.get(uuid)
        if task.get("status") != "pending":
            raise PreconditionFailed(f"task {uuid[:8]} is {task.get('status')} now")
        pipeline, view = pipeline_for(app, task), task_view(task)
        check_paths(app, view)
        if target.kind == "worker":
            stage = pipeline.stage(view.briefed_stage) or current_stage(pipeline, view)
            assert stage is not None
            workers.ensure_worker(app, view, stage)
        else:
            stage = last_review_stage(pipeline, view) or current_stage(pipeline, view)
            assert stage is not None
            review_rounds.await_review(app, view, stage)
    return "in its worktree"


def _person_step(app: App, task: dict[str, Any]) -> Step:
    """What a person's `ttal go` would do now (as drive._drive decides it)."""
    pipeline, view = pipeline_for(app, task), task_view(task)
    here = current_stage(pipeline, view)
    if here is not None and here.kind == "merge":
        view = replace(view, unreviewed=branch_unreviewed(app, view))
    return next_step(view, pipeline, Caller())


def _alive(app: App, target: Target, rec: WatchRecord, probe: Probe, policy: Policy,
           row: Row) -> WatchRecord:  # fmt: skip
    rec, recovered = on_alive(rec, probe.now, policy)
    if recovered:
        app.state.event("watch-recovered", target.uuid, "ttal", target.name)
        row.did.append("healthy again")
    state, _since = agent_state(app, target.name, probe.sessions, probe.activity, probe.now)
    beat = probe.heartbeats.get(target.name, (0.0, ""))
    status = app.state.status(target.name)
    last = max(probe.activity.get(target.name, 0.0), beat[0], rec.restarted_at,
               status.seen if status else 0.0)  # fmt: skip
    was_stuck = bool(rec.stuck_at)
    rec, stuck = on_activity(rec, last, probe.now, policy, target.expected)
    if was_stuck and not rec.stuck_at:
        row.did.append("no longer stuck")
        app.state.event("watch-unstuck", target.uuid, "ttal", target.name)  # ends the episode
    row.state, row.health = state, f"stuck:{target.name}" if rec.stuck_at else "ok"
    waiting = status is not None and status.state == "waiting"
    if rec.stuck_at:
        row.state = f"{'waiting' if waiting else 'stuck'} {ago(probe.now - last)}"
    if stuck:
        app.state.event("watch-stuck", target.uuid, "ttal", f"{target.name}: {row.state}")
        text = stuck_text(target, last, beat, probe.now, waiting)
        # Keyed by the period's last activity, exactly (as on_activity compares it).
        _alert(app, target, f"stuck:{target.name}:{last!r}", text, row)
    if target.kind == "worker":
        rec = _check_dirty(app, target, rec, state == "idle", probe.now, row)
    return rec


def _check_dirty(app: App, target: Target, rec: WatchRecord, idle: bool, now: float,
                 row: Row) -> WatchRecord:  # fmt: skip
    worktree = target.task.worktree if target.task else ""
    if idle and worktree and target.task:
        check_paths(app, target.task)  # git never runs where a person's `task` pointed it
    dirty = git.dirty_paths(Path(worktree)) if idle and worktree else []
    rec, warn = on_dirty(rec, bool(dirty), now)
    if dirty:
        row.state += ", uncommitted changes"
    if warn:
        shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
        app.state.event("watch-dirty", target.uuid, "ttal", f"{target.name}: {shown}")
        text = dirty_text(target, worktree, shown)
        # Keyed by when this episode began, exactly: rounded to the second, a second episode
        # (committed, then dirty again) within that second was dropped as a resend.
        _alert(app, target, f"dirty:{target.name}:{rec.dirty_at!r}", text, row, "warned")
    return rec


# ---- alerts, health, deliveries ------------------------------------------------------------


def _alert(app: App, target: Target, key: str, text: str, row: Row, verb: str = "alerted") -> None:
    if mesh.tell(app, target.spawner, text, key=key, task=target.uuid, sender="ttal"):
        row.did.append(f"{verb} {target.spawner}")


def _record_health(app: App, watched: list[tuple[Target, Row]]) -> list[Row]:
    """Each task's health (UDA ttal_health), the worst of its agents', written only when it
    changes; a task that was never unwell gets no write."""
    tasks: dict[str, tuple[TaskView, list[str]]] = {}
    for target, row in watched:
        if target.task is not None and row.health:
            tasks.setdefault(target.uuid, (target.task, []))[1].append(row.health)
    failed = []
    for uuid, (task, conditions) in tasks.items():
        health, was = worst(conditions), task.health
        if health == was or (health == "ok" and not was):
            continue
        try:
            app.tw.set(uuid, ttal_health=health)
        except TtalError as err:
            failed.append(Row("-", "health", uuid, "error", health, [err.message]))
    return failed


def _deliveries(app: App) -> list[Row]:
    """Intents a crash left pending (as `ttal recover`), then queued messages, role stages
    and spawns (held back by limits), as `ttal deliver`."""
    from ttal.engine.recovery import recover

    rows = [_journal_row(item) for item in recover(app, sweep=False)]
    assignments, spawns = len(app.state.assignments()), len(spawn_queue.queue(app))
    rows += [Row(name, "delivery", did=[f"delivered {n} queued message(s)"])
             for name, n in deliver_all(app).items() if n]  # fmt: skip
    assigned = assignments - len(app.state.assignments())
    if assigned > 0:
        rows.append(Row("-", "routing", did=[f"assigned {assigned} queued role stage(s)"]))
    started = spawns - len(spawn_queue.queue(app))
    if started > 0:
        rows.append(Row("-", "spawning", did=[f"started {started} queued task(s)"]))
    return rows


def _forge(app: App) -> list[Row]:
    """Pull requests of projects that merge through a forge: pushes, feedback to the
    workers, merges of approved tasks (their `ttal go`), PRs of deleted tasks closed."""
    from ttal.engine import forge_flow

    def go(uuid: str) -> list[str]:
        outcome = drive.go(app, uuid)
        return [*outcome.did, *([outcome.message] if outcome.message else [])]

    found = forge_flow.watch(app, go)
    return [Row("-", "forge", uuid, state, "", did) for uuid, state, did in found]


def _budget_row(checked: budgets.Checked) -> Row:
    return Row("-", "budget", checked.task, checked.state, "", checked.did)


def _journal_row(item: dict[str, Any]) -> Row:
    return Row("-", "journal", item["task"], item["state"], "",
               [f"#{item['id']} {item['action']}: {item['note']}"])  # fmt: skip


def _exit_status(app: App, name: str) -> str:
    try:
        return (app.run_dir / f"{name}.exit").read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"  # killed with its session: the shell never wrote it
