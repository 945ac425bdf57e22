"""`ttal gc`: remove what finished tasks left behind, and never a commit that is not on base.

Three sweeps, each deciding from the live world (Taskwarrior, tmux, git, the lock files):
sessions of tasks that are no longer pending; worktrees under `worktree_root` of finished
tasks (only clean ones) and their branches (merged ones deleted, unmerged ones archived under
`refs/ttal/archive/` first); lock files whose holder is gone. A task that is still pending
protects everything that is its own. `dry_run` decides the same things and changes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttal.adapters import git, locks, poll
from ttal.config.model import Project
from ttal.engine import journal
from ttal.engine.app import App
from ttal.errors import TtalError

ARCHIVE = "refs/ttal/archive/"
FINISHED = ("completed", "deleted")
SHORT_RE = re.compile(r"^([0-9a-f]{8})(?:-|$)")
SESSION_RE = re.compile(r"^(?:w-([0-9a-f]{8})|r-([0-9a-f]{8})-[A-Za-z0-9_]+)$")


@dataclass
class Item:
    kind: str  # session, worktree, branch, lock, repo
    name: str
    action: str  # kill, remove, prune, delete, archive, keep, skip
    reason: str
    task: str = ""  # the task's uuid, when it is known
    ref: str = ""  # the archive ref of an archived branch

    def keep(self, why: str) -> None:
        self.action, self.reason = "keep", f"{self.reason}; {why}"

    def as_dict(self) -> dict[str, str]:
        row = {"kind": self.kind, "name": self.name, "action": self.action, "reason": self.reason}
        return row | {k: v for k, v in (("task", self.task), ("ref", self.ref)) if v}


@dataclass
class Tasks:
    """What Taskwarrior says, keyed by short uuid, branch and worktree path (sessions are
    named after the short uuid). Live (not completed or deleted) tasks protect their keys;
    finished ones explain why their things go."""

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
        return tasks

    def is_live(self, keys: list[str]) -> bool:
        return any(k in self.live for k in keys)

    def task(self, keys: list[str]) -> dict[str, Any] | None:
        return next((self.finished[k] for k in keys if k in self.finished), None)

    def why(self, keys: list[str]) -> str:
        if task := self.task(keys):
            return f"task {task['uuid'][:8]} {task.get('status')}"
        short = next((k.removeprefix("short:") for k in keys if k.startswith("short:")), "")
        return f"no task {short}" if short else "no ttal task"


def keys(short: str = "", branch: str = "", path: str = "") -> list[str]:
    pairs = (("short", short), ("branch", branch), ("path", path))
    return [f"{kind}:{value}" for kind, value in pairs if value]


def _keys_of(task: dict[str, Any]) -> list[str]:
    path = str(task.get("ttal_worktree") or "")
    return keys(task["uuid"][:8], str(task.get("ttal_branch") or ""),
                os.path.realpath(path) if path else "")  # fmt: skip


def _short(text: str) -> str:
    match = SHORT_RE.match(text)
    return match.group(1) if match else ""


@dataclass(frozen=True)
class Run:
    app: App
    tasks: Tasks
    dry_run: bool
    repo_locks: set[Path] = field(default_factory=set)  # the repo locks this gc takes
    doomed: set[int] = field(default_factory=set)  # processes of the sessions this gc kills

    def intent(
        self, action: str, key: str, item: Item, **detail: str
    ) -> AbstractContextManager[int]:
        """Journalled like every other mutation, so `ttal recover` settles a crash mid-gc."""
        return journal.intent(self.app, action, key, item.task, **detail)


def gc(app: App, dry_run: bool = False) -> list[Item]:
    run = Run(app, Tasks.load(app), dry_run)
    items = sweep_sessions(run)
    for repo, projects in _repos(app).items():
        items += sweep_repo(run, repo, projects)
    # Skipping the repo locks we take ourselves keeps the dry run exact: the real run has
    # just written its own pid into them.
    items += sweep_locks(app.lock_dir, dry_run, skip=run.repo_locks, doomed=run.doomed)
    if not dry_run:
        _record(app, items)
    return items


def _record(app: App, items: list[Item]) -> None:
    for item in items:
        if item.action not in ("keep", "skip"):
            detail = f"{item.action} {item.kind} {item.name}: {item.reason}"
            app.state.event("gc", item.task, app.caller.name, detail)


def _item(run: Run, kind: str, name: str, action: str, found: list[str]) -> Item:
    task = run.tasks.task(found)
    return Item(kind, name, action, run.tasks.why(found), task["uuid"] if task else "")


# ---- sessions ----------------------------------------------------------------------------
def sweep_sessions(run: Run) -> list[Item]:
    """Kill w-*/r-* sessions whose task is not pending. Managers are never touched."""
    items = []
    tmux = run.app.tmux
    names = [s for s in tmux.sessions() if s not in run.app.cfg.agents]
    children: dict[int, list[int]] | None = None  # the process tree, read before any kill
    # Our own session last: killing it first would end this very command.
    for name in sorted(names, key=lambda s: s == run.app.caller.name):
        match = SESSION_RE.match(name)
        found = keys(short=match.group(1) or match.group(2)) if match else []
        if not found or run.tasks.is_live(found):
            continue
        item = _item(run, "session", name, "kill", found)
        children = _children() if children is None else children
        run.doomed.update(_family(tmux.pane_pid(name), children))
        if not run.dry_run:
            with run.intent("session.kill", f"kill:{name}", item, name=name):
                if not tmux.kill(name) and tmux.has(name):
                    item.keep("tmux kill-session failed")
        items.append(item)
    if not run.dry_run:
        _wait_gone(run.doomed)
    return items


def _children() -> dict[int, list[int]]:
    """pid -> its children's pids, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return children


def _family(pid: int, children: dict[int, list[int]]) -> set[int]:
    """A session's pane process and its descendants: the lock sweep counts their locks as
    stale, in the dry run too, so it shows exactly what the real run does."""
    if not pid:
        return set()
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo += children.get(current, [])
    return found


def _wait_gone(pids: set[int], timeout: float = 3.0) -> None:
    """The killed agents' processes take a moment to exit; the lock sweep after this must
    see them gone, or their last locks look held until the next run."""
    poll.until(lambda: not any(_alive(pid) for pid in pids), timeout, interval=0.02)


# ---- worktrees and branches ----------------------------------------------------------------
def _repos(app: App) -> dict[Path, list[Project]]:
    by_repo: dict[Path, list[Project]] = {}
    for project in app.cfg.projects.values():
        by_repo.setdefault(project.repo, []).append(project)
    return by_repo


def sweep_repo(run: Run, repo: Path, projects: list[Project]) -> list[Item]:
    try:
        git.check_repo(repo, projects[0].base)
    except TtalError as err:
        return [Item("repo", str(repo), "skip", err.message)]
    # Parallel `git worktree add/remove` on one repo races (§3.3). The dry run takes no lock:
    # taking it writes the lock file.
    lock = locks.repo_lock(run.app.lock_dir, repo)
    run.repo_locks.add(lock)
    with contextlib.nullcontext() if run.dry_run else locks.held(lock):
        items, removed = sweep_worktrees(run, repo, projects)
        items += prune_worktrees(repo, run.dry_run)
        items += sweep_branches(run, repo, projects, removed)
    return items


def _base_of(run: Run, found: list[str], projects: list[Project]) -> str:
    """The base of the task's project when it is on this repo, else the repo's first."""
    task = run.tasks.task(found) or {}
    by_name = {p.name: p.base for p in projects}
    return by_name.get(str(task.get("project") or ""), projects[0].base)


def sweep_worktrees(run: Run, repo: Path, projects: list[Project]) -> tuple[list[Item], set[str]]:
    """Remove clean worktrees of finished tasks under worktree_root. Returns the removed."""
    root = os.path.realpath(run.app.cfg.worktree_root) + os.sep
    items, removed = [], set()
    for record in git.worktree_records(repo):
        path = os.path.realpath(record["worktree"])
        if not path.startswith(root) or "prunable" in record or not os.path.isdir(path):
            continue
        branch = record.get("branch", "").removeprefix("refs/heads/")
        found = keys(_short(branch.removeprefix("ttal/")) or _short(Path(path).name), branch, path)
        if run.tasks.is_live(found):
            continue
        item = _item(run, "worktree", path, "remove", found)
        _remove_worktree(run, repo, record, item, _base_of(run, found, projects))
        removed.update([path] if item.action == "remove" else [])
        items.append(item)
    return items, removed


def _remove_worktree(run: Run, repo: Path, record: dict[str, str], item: Item, base: str) -> None:
    """`git worktree remove` without --force: git itself refuses a tree that became dirty
    after our look, so uncommitted work is never lost."""
    try:
        dirty = git.dirty_paths(Path(item.name))
    except TtalError as err:
        item.keep(err.message)
        return
    head = record.get("HEAD", "")
    if dirty:
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        item.keep(f"uncommitted changes ({dirty[0]}{more})")
    elif "locked" in record:
        item.keep(f"locked: {record['locked'] or '-'}")
    elif "detached" in record and not git.is_ancestor(repo, head, f"refs/heads/{base}"):
        item.keep(f"detached at {head[:10]}, not on {base}")
    elif not run.dry_run:
        with run.intent("worktree.remove", f"rm:{item.name}", item, path=item.name, repo=str(repo)):
            result = git.remove_clean_worktree(repo, item.name)
        if not result.ok:
            item.keep(result.err.strip())


def prune_worktrees(repo: Path, dry_run: bool) -> list[Item]:
    """Worktree records whose directory is gone: `git worktree prune`."""
    items = [Item("worktree", r["worktree"], "prune", r["prunable"] or "directory is gone")
             for r in git.worktree_records(repo) if "prunable" in r]  # fmt: skip
    if not dry_run:
        git.prune_worktrees(repo)
    return items


def sweep_branches(run: Run, repo: Path, projects: list[Project], removed: set[str]) -> list[Item]:
    """ttal/* branches of finished tasks: delete when merged, else archive, then delete."""
    checked_out = _checked_out(repo, removed)
    items = []
    for tip, branch in _ttal_branches(repo):
        short = _short(branch.removeprefix("ttal/"))
        found = keys(short, branch)
        if run.tasks.is_live(found) or not (short or run.tasks.task(found)):
            continue  # a pending task's, or a branch ttal did not make
        item = _item(run, "branch", branch, "delete", found)
        if branch in checked_out:
            item.keep(f"checked out at {checked_out[branch]}")
        else:
            _drop_branch(run, repo, tip, _base_of(run, found, projects), item)
        items.append(item)
    return items


def _checked_out(repo: Path, removed: set[str]) -> dict[str, str]:
    """Branch -> the worktree it stays checked out in (after this gc's removals)."""
    found = {}
    for record in git.worktree_records(repo):
        if "prunable" not in record and os.path.realpath(record["worktree"]) not in removed:
            found[record.get("branch", "").removeprefix("refs/heads/")] = record["worktree"]
    return found


def _ttal_branches(repo: Path) -> list[tuple[str, str]]:
    """(tip, branch name) of every ttal/* branch."""
    return git.branch_tips(repo, "refs/heads/ttal/")


def _drop_branch(run: Run, repo: Path, tip: str, base: str, item: Item) -> None:
    """Delete a merged branch; archive an unmerged one first. The delete is a compare-and-swap
    on the tip we looked at, so a commit made meanwhile keeps the branch."""
    if git.is_ancestor(repo, tip, f"refs/heads/{base}"):
        item.reason += f"; merged into {base}"
    else:
        count = git.count(repo, f"refs/heads/{base}", tip)
        shown = "some" if count is None else count
        ref, why = ARCHIVE + item.name, f"{shown} commit(s) not on {base}"
        if not _archivable(repo, ref, tip):
            item.keep(f"{why}; {ref} holds other work")
            return
        item.action, item.ref = "archive", ref
        item.reason += f"; {why}, kept as {ref} ({tip[:10]})"
    if run.dry_run:
        return
    with run.intent("branch.delete", f"rm:{item.name}", item, repo=str(repo), branch=item.name,
                    tip=tip, archive=item.ref):  # fmt: skip
        deleted = _archive(repo, item.ref, tip) and git.delete_ref(
            repo, f"refs/heads/{item.name}", tip
        )
    if not deleted:
        item.keep("the branch or its archive ref moved during gc")


def _archivable(repo: Path, ref: str, tip: str) -> bool:
    """The archive ref is free, or already reaches only commits that tip reaches too (an
    earlier gc archived an older tip and the branch moved on)."""
    old = git.rev(repo, ref)
    return not old or old == tip or git.is_ancestor(repo, old, tip)


def _archive(repo: Path, ref: str, tip: str) -> bool:
    """Point ref at tip, by compare-and-swap on what it held ("" for no archive wanted)."""
    if not ref:
        return True
    old = git.rev(repo, ref)
    if old == tip:
        return True
    return git.set_ref(repo, ref, tip, old, "ttal gc: archive")


# ---- locks ---------------------------------------------------------------------------------
def sweep_locks(
    lock_dir: Path, dry_run: bool, skip: set[Path], doomed: set[int] | None = None
) -> list[Item]:
    """Lock files nobody holds and whose last holder is gone (or is in a session this gc
    kills). Locks in use are not reported: they need nothing from a person."""
    paths = sorted(set(lock_dir.glob("*.lock")) - skip)
    found = (_stale_lock(path, dry_run, doomed or set()) for path in paths)
    return [item for item in found if item is not None]


def _stale_lock(path: Path, dry_run: bool, doomed: set[int]) -> Item | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # held right now
        text = os.read(fd, 64).decode(errors="replace").strip()
        pid = int(text) if text.isdigit() else 0
        ends = pid in doomed
        if pid == os.getpid() or (pid and not ends and _alive(pid)):
            return None
        # Unlinked while we hold it: adapters.locks.held re-checks the inode after locking, so a
        # process that opened the old file meanwhile retries on a new one.
        if not dry_run:
            path.unlink(missing_ok=True)
        why = "no holder recorded" if not pid else f"holder pid {pid} is gone"
        why = f"holder pid {pid} ends with its session" if ends else why
        return Item("lock", path.name, "remove", f"{why}; not locked")
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:  # a zombie holds no lock and does no work
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
