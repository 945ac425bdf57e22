"""The watchdog's decisions, kept pure: given what a pass saw of one agent and what was
remembered from earlier passes (a WatchRecord), what to record, whom to alert and whether to
restart. No subprocess, no tmux, no Taskwarrior: ttal.engine.watch_pass does the acting.

- A death is alerted once: a pass that sees the same dead agent again (say, during backoff)
  stays quiet; a restart that dies again is a new death with its own alert.
- Restarts are limited (limits.restart_limit) with exponential backoff
  (limits.restart_backoff, doubled after each restart); past the limit the agent is
  `failed`: one final alert, no more restarts, until a person restarts it.
- The restart count is forgotten only once the agent has stayed up for the whole backoff
  span: an agent that lives a second after each restart must still reach the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ttal.core.durations import ago
from ttal.core.task_view import TaskView

# The worst condition of a task's agents is its health; a later one in this order wins.
SEVERITY = ("ok", "stuck", "dead", "failed")


@dataclass(frozen=True)
class Target:
    """An agent that should be running."""

    name: str  # tmux session name, also the agent's name
    kind: str  # worker, reviewer, manager
    spawner: str  # who gets the alerts
    task: TaskView | None = None
    expected: bool = True  # should be producing output now (its turn, or reported busy)

    @property
    def uuid(self) -> str:
        return self.task.uuid if self.task else ""


@dataclass(frozen=True)
class WatchRecord:
    """What `ttal watch` remembers about one agent between passes (times are epoch seconds,
    0 when unset). ttal.adapters.store keeps one per agent."""

    agent: str
    health: str = "ok"  # ok, dead or failed (gave up restarting)
    deaths: int = 0  # deaths seen, ever: each death's alert has its own idempotency key
    restarts: int = 0  # restarts since it was last stable
    dead_at: float = 0.0  # when the current death was first seen
    restarted_at: float = 0.0  # the last restart by the watchdog
    next_at: float = 0.0  # no restart before this (backoff)
    stuck_at: float = 0.0  # the last activity of the stuck period already alerted
    dirty_at: float = 0.0  # since when it is idle with uncommitted changes (warned)


@dataclass(frozen=True)
class Policy:
    """The limits a pass applies; the caller fills it from the config's `limits:`."""

    limit: int  # restarts before giving up
    backoff: float  # seconds between the first and second restart; doubles after each
    stuck_after: float  # seconds without output or heartbeat before an agent counts as stuck

    @property
    def stable_after(self) -> float:
        """Up this long after a restart, an agent's restart count starts again from zero."""
        return self.backoff * float(2**self.limit)


@dataclass(frozen=True)
class Death:
    record: WatchRecord
    alert: str  # "dead" (a new death), "failed" (the final alert) or "" (already told)
    restart: bool  # restart it now
    wait: float = 0.0  # seconds of backoff left when not restarting now


def on_dead(rec: WatchRecord, now: float, policy: Policy) -> Death:
    # A restart made in the pass that first saw this death carries that pass's time.
    new = rec.dead_at == 0 or rec.restarted_at >= rec.dead_at
    if new:
        rec = replace(rec, deaths=rec.deaths + 1, dead_at=now, stuck_at=0.0, dirty_at=0.0)
    if rec.restarts >= policy.limit:
        if rec.health == "failed":
            return Death(rec, "", False)
        return Death(replace(rec, health="failed"), "failed", False)
    rec = replace(rec, health="dead")
    alert = "dead" if new else ""
    if now >= rec.next_at:
        return Death(rec, alert, True)
    return Death(rec, alert, False, rec.next_at - now)


def after_restart(rec: WatchRecord, now: float, policy: Policy, started: bool) -> WatchRecord:
    """Count an attempt (started or not) and set the earliest time for the next one."""
    restarts = rec.restarts + 1
    next_at = now + policy.backoff * 2 ** (restarts - 1)
    return replace(rec, restarts=restarts, next_at=next_at,
                   restarted_at=now if started else rec.restarted_at)  # fmt: skip


def on_alive(rec: WatchRecord, now: float, policy: Policy) -> tuple[WatchRecord, bool]:
    """The record of an agent seen alive, and whether it has just recovered."""
    recovered = rec.health != "ok"
    restarts = rec.restarts
    if rec.health == "failed" or (restarts and now - rec.restarted_at >= policy.stable_after):
        restarts = 0  # a person restarted it after we gave up, or it has stayed up
    rec = replace(rec, health="ok", dead_at=0.0, restarts=restarts)
    return rec, recovered


def on_activity(
    rec: WatchRecord, last: float, now: float, policy: Policy, expected: bool
) -> tuple[WatchRecord, bool]:
    """Stuck: expected to work, yet no output or heartbeat since `last` for longer than
    stuck_after. Alerts once per stuck period; new output starts a new period."""
    if not expected or now - last <= policy.stuck_after:
        return replace(rec, stuck_at=0.0), False
    if rec.stuck_at == last:
        return rec, False
    return replace(rec, stuck_at=last), True


def on_dirty(rec: WatchRecord, idle_and_dirty: bool, now: float) -> tuple[WatchRecord, bool]:
    """Idle with uncommitted changes: warn once each time it gets into that state."""
    if not idle_and_dirty:
        return replace(rec, dirty_at=0.0), False
    if rec.dirty_at:
        return rec, False
    return replace(rec, dirty_at=now), True


def worst(conditions: list[str]) -> str:
    """A task's health from its agents' conditions (`dead:w-1a2b3c4d:1`, `ok`, ...)."""
    return max(conditions or ["ok"], key=lambda c: SEVERITY.index(c.split(":", 1)[0]))


# ---- what the spawner is told --------------------------------------------------------------


def death_text(target: Target, rec: WatchRecord, code: str, policy: Policy, did: list[str],
               log: Path) -> str:  # fmt: skip
    head = f"{who(target)} died (exit {code})"
    if rec.health == "failed":
        return (f"{head} again after {rec.restarts} restarts; ttal watch gave up on it "
                f"(limits.restart_limit: {policy.limit}). Its worktree and branch are kept. "
                f"See {log}, fix the cause, then restart it: {restart_hint(target)}.")  # fmt: skip
    return f"{head}: {'; '.join(did) or 'restarting it'}. Its log: {log}."


def stuck_text(target: Target, last: float, beat: tuple[float, str], now: float,
               waiting: bool = False) -> str:  # fmt: skip
    if waiting:  # its runtime said so (Claude's Notification hook): a dialog, not a hang
        return (f"{who(target)} has been waiting for a person for {ago(now - last)}: a "
                f"permission or question dialog in its pane. Answer it: "
                f"`ttal attach {target.name}`.")  # fmt: skip
    note = f" Its last heartbeat said: {beat[1]!r}." if beat[1] and beat[0] >= last else ""
    return (f"{who(target)} has shown no output and sent no heartbeat for {ago(now - last)}."
            f"{note} Look with `ttal attach {target.name}`.")  # fmt: skip


def dirty_text(target: Target, worktree: str, shown: str) -> str:
    return (
        f"{who(target)} is idle with uncommitted changes in {worktree}: {shown}. They are "
        f"not reviewed or merged until committed; look with `ttal attach {target.name}`."
    )


def who(target: Target) -> str:
    if target.task is None:
        return f"{target.kind} {target.name}"
    return (f"{target.kind} {target.name} of task {target.uuid[:8]} "
            f"({target.task.description})")  # fmt: skip


def restart_hint(target: Target) -> str:
    return f"ttal up {target.name}" if target.task is None else f"ttal go {target.uuid[:8]}"
