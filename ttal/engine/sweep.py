"""How `ttal gc` decides: what Taskwarrior says about the thing a sweep may remove.

A look taken before gc acts goes stale while it acts: gc waits up to 3 s for killed agents
to exit, and a task created and spawned meanwhile was not in that look, so gc removed the
new worker's worktree and archived its branch under it (issue 15, item 3). So each session,
worktree and branch whose name carries its task's short uuid is decided with that task's
lock held (the lock `ttal go` holds while it spawns) and the task read afresh under it.
The first look only spares what it already shows live, and decides the things whose task
cannot be told from their name.

Lock order: the task's lock before the repo's, as `ttal go` takes them (engine/drive.py,
then apply.spawn or merge), so gc and a concurrent `ttal go` never wait on each other.

Batched: before a sweep decides its items, `prepare` takes the locks of every task their
names point at (in uuid order) and reads those tasks in one `task export`; the locks stay
held until gc ends, so each read stays fresh for every item of that task. A thing that
shows up later is decided the same way, alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttal.adapters import locks
from ttal.core import evidence
from ttal.engine import journal
from ttal.engine.app import App
from ttal.errors import ExternalError

FINISHED = ("completed", "deleted")
SHORT_RE = re.compile(r"^([0-9a-f]{8})(?:-|$)")
LOCK_WAIT = 10.0  # seconds gc waits for a task's lock before it keeps the task's things


@dataclass
class Item:
    kind: str  # session, worktree, branch, lock, repo
    name: str
    action: str  # kill, remove, prune, delete, archive, keep, skip
    reason: str
    task: str = ""  # the task's uuid, when it is known
    ref: str = ""  # the archive ref of an archived branch
    ignored: list[str] = field(default_factory=list)  # files git ignores, in a worktree
    project: str = field(default="", repr=False, compare=False)  # the task's project

    def keep(self, why: str) -> None:
        self.action, self.reason = "keep", f"{self.reason}; {why}"

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"kind": self.kind, "name": self.name, "action": self.action,
                               "reason": self.reason}  # fmt: skip
        row |= {k: v for k, v in (("task", self.task), ("ref", self.ref)) if v}
        return row | ({"ignored": self.ignored} if self.ignored else {})


@dataclass
class Tasks:
    """gc's first look at Taskwarrior, keyed by short uuid, branch and worktree path
    (sessions are named after the short uuid). Live (not completed or deleted) tasks protect
    their keys; finished ones explain why their things go."""

    live: set[str] = field(default_factory=set)
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, app: App) -> Tasks:
        tasks = cls()
        for task in app.tw.export("status.not:completed", "status.not:deleted"):
            tasks.live.update(_keys_of(task))
        for task in app.tw.export("ttal_branch.any:"):
            if task.get("status") in FINISHED:
                tasks.finished.update(dict.fromkeys(_keys_of(task), task))
        if not tasks.live and not tasks.finished:  # an empty answer: is it the truth?
            require_evidence(app, "gc")
        return tasks

    def is_live(self, keys: list[str]) -> bool:
        return any(k in self.live for k in keys)

    def task(self, keys: list[str]) -> dict[str, Any] | None:
        return next((self.finished[k] for k in keys if k in self.finished), None)


def require_evidence(app: App, command: str) -> None:
    """Refuse (core/evidence.py) when Taskwarrior holds no tasks at all while ttal's own
    state knows live ones. One `task count`, and only when ttal knows a live task."""
    known = known_live(app)
    if not known:
        return
    counted = app.tw.call("count")
    seen = int(counted.out.strip()) if counted.ok and counted.out.strip().isdigit() else -1
    if why := evidence.refusal(command, seen, known):
        raise ExternalError(why, hint="`ttal doctor` checks the Taskwarrior setup")


def known_live(app: App) -> set[str]:
    """Tasks ttal's own state shows live: ones it spawned whose session runs or whose
    worktree is still there, and ones with writes or intents still open."""
    spawned = {uuid[:8]: uuid for uuid in app.state.spawned_tasks()}
    root = Path(app.cfg.worktree_root)
    names = [n.split("-", 1)[-1] for n in app.tmux.sessions()]  # w-SHORT, r-SHORT-stage
    names += [p.name for p in (*root.glob("*"), *root.glob("*/*")) if p.is_dir()]
    found = {spawned[s] for name in names if (s := short_of(name)) in spawned}
    found.update(app.state.open_write_tasks())
    found.update(i.task for i in app.state.intents(("pending",)) if i.task)
    return found


def keys(short: str = "", branch: str = "", path: str = "") -> list[str]:
    pairs = (("short", short), ("branch", branch), ("path", path))
    return [f"{kind}:{value}" for kind, value in pairs if value]


def short_of(text: str) -> str:
    """The short uuid a name starts with ("" for none)."""
    match = SHORT_RE.match(text)
    return match.group(1) if match else ""


def _keys_of(task: dict[str, Any]) -> list[str]:
    path = str(task.get("ttal_worktree") or "")
    return keys(task["uuid"][:8], str(task.get("ttal_branch") or ""),
                os.path.realpath(path) if path else "")  # fmt: skip


def _short_key(found: list[str]) -> str:
    return next((k.removeprefix("short:") for k in found if k.startswith("short:")), "")


@dataclass
class Run:
    app: App
    tasks: Tasks
    dry_run: bool
    include_ignored: bool = False
    repo_locks: set[Path] = field(default_factory=set)  # the repo locks this gc takes
    doomed: set[int] = field(default_factory=set)  # processes of the sessions this gc kills
    busy: set[str] = field(default_factory=set)  # tasks whose lock stayed held: not waited twice
    known: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # short -> task
    held: dict[str, bool] = field(default_factory=dict)  # uuid -> its lock is ours (to the end)
    fresh: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # read under it
    stack: ExitStack = field(default_factory=ExitStack)  # the task locks held

    def close(self) -> None:
        """Let go of the task locks this gc took."""
        self.stack.close()

    def intent(
        self, action: str, key: str, item: Item, **detail: str
    ) -> AbstractContextManager[int]:
        """Journalled like every other mutation, so `ttal recover` settles a crash mid-gc."""
        return journal.intent(self.app, action, key, item.task, **detail)

    def repo_lock(self, repo: Path) -> AbstractContextManager[None]:
        """Parallel `git worktree add/remove` on one repo races (§3.3). The dry run takes no
        lock: taking it writes the lock file."""
        lock = locks.repo_lock(self.app.lock_dir, repo)
        self.repo_locks.add(lock)
        return nullcontext() if self.dry_run else locks.held(lock)


def prepare(run: Run, shorts: Iterable[str]) -> None:
    """Lock the tasks these short uuids point at (those not live in the first look) and
    read them in one export, for `deciding`. Shorts of no task need no lock."""
    shorts = sorted({s for s in shorts if s and not run.tasks.is_live(keys(s))})
    _look_up(run, [s for s in shorts if f"short:{s}" not in run.tasks.finished])
    uuids = sorted({task["uuid"] for s in shorts if (task := _known(run, s)) is not None
                    and task["uuid"] not in run.held})  # fmt: skip
    for uuid in uuids:
        run.held[uuid] = run.stack.enter_context(_task_lock(run, uuid))
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in run.app.tw.export(*uuids) if uuids else []:
        rows.setdefault(row["uuid"], []).append(row)
    run.fresh.update({u: next(iter(rows.get(u, [])), None) for u in uuids})


def _look_up(run: Run, shorts: list[str]) -> None:
    """The tasks of short uuids the first look did not show finished, in one export."""
    shorts = [s for s in shorts if s not in run.known]
    if not shorts:
        return
    found: dict[str, list[dict[str, Any]]] = {s: [] for s in shorts}
    for task in run.app.tw.export(*shorts):
        found.setdefault(task["uuid"][:8], []).append(task)
    for short, tasks in found.items():
        live = [t for t in tasks if _is_live(t)]
        run.known[short] = next(iter(live or tasks), None)


@contextmanager
def deciding(
    run: Run, kind: str, name: str, action: str, found: list[str]
) -> Iterator[Item | None]:
    """The item gc would act on, or None when its task is live (kept, not reported). With
    a short uuid in `found`, the block runs with that task's lock held and the item comes
    from a read of the task under it (prepare); without one, the first look decides."""
    short = _short_key(found)
    if short and not run.tasks.is_live(found):
        prepare(run, [short])  # nothing to do when the sweep prepared it
    known = None if run.tasks.is_live(found) or not short else _known(run, short)
    if run.tasks.is_live(found) or _is_live(known):
        yield None
    elif not short:
        yield _item(kind, name, action, run.tasks.task(found), "no ttal task")
    elif known is None:  # no such task: nothing a `ttal go` could be spawning, no lock
        yield _item(kind, name, action, None, f"no task {short}")
    else:
        uuid = known["uuid"]
        task = run.fresh.get(uuid)
        if _is_live(task):
            yield None
        elif not run.held.get(uuid):
            item = _item(kind, name, "keep", task, f"no task {short}")
            yield _busy(run, item, short, uuid)
        else:
            yield _item(kind, name, action, task, f"no task {short}")


def _known(run: Run, short: str) -> dict[str, Any] | None:
    """The task the name's short uuid points at: from the first look when it showed it
    finished, else as `_look_up` read it. None when there is no such task."""
    if task := run.tasks.finished.get(f"short:{short}"):
        return task
    _look_up(run, [short])
    return run.known.get(short)


def _is_live(task: dict[str, Any] | None) -> bool:
    return task is not None and task.get("status") not in FINISHED


def _task_lock(run: Run, uuid: str) -> AbstractContextManager[bool]:
    """The lock `ttal go` holds while it works on the task. The dry run reads without it:
    it changes nothing, so it need not wait for anyone."""
    if run.dry_run:
        return nullcontext(True)
    wait = 0.0 if uuid in run.busy else LOCK_WAIT
    return locks.borrowed(locks.task_lock(run.app.lock_dir, uuid), wait)


def _item(kind: str, name: str, action: str, task: dict[str, Any] | None, none: str) -> Item:
    if task is None:
        return Item(kind, name, action, none)
    why = f"task {task['uuid'][:8]} {task.get('status')}"
    return Item(kind, name, action, why, task["uuid"], project=str(task.get("project") or ""))


def _busy(run: Run, item: Item, short: str, uuid: str) -> Item:
    run.busy.add(uuid)
    try:
        pid = locks.task_lock(run.app.lock_dir, uuid).read_text(encoding="utf-8").strip()
    except OSError:
        pid = ""
    by = f"pid {pid}" if pid.isdigit() else "a ttal command"
    item.reason += (
        f"; task {short}'s lock stayed held by {by} for {LOCK_WAIT:.0f} s: nothing was "
        "changed; run `ttal gc` again when that command has finished"
    )
    return item
