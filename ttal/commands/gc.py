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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttal import gitops, locks
from ttal.app import App
from ttal.config import Project
from ttal.errors import TtalError

ARCHIVE = "refs/ttal/archive/"
FINISHED = ("completed", "deleted")
NO_REF = "0" * 40  # `git update-ref <ref> <new> <zeros>`: create only, never overwrite
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

    def as_dict(self) -> dict[str, str]:
        row = {"kind": self.kind, "name": self.name, "action": self.action, "reason": self.reason}
        return row | {k: v for k, v in (("task", self.task), ("ref", self.ref)) if v}


@dataclass
class Tasks:
    """What Taskwarrior says, keyed by short uuid, branch, worktree path and session name.
    Live (not completed or deleted) tasks protect their keys; finished ones explain why."""

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


def keys(short: str = "", branch: str = "", path: str = "", session: str = "") -> list[str]:
    pairs = (("short", short), ("branch", branch), ("path", path), ("session", session))
    return [f"{kind}:{value}" for kind, value in pairs if value]


def _keys_of(task: dict[str, Any]) -> list[str]:
    path = str(task.get("ttal_worktree") or "")
    return keys(task["uuid"][:8], str(task.get("ttal_branch") or ""),
                os.path.realpath(path) if path else "")  # fmt: skip
    # sessions are named after the short uuid, so the short key covers them


def _short(text: str) -> str:
    match = SHORT_RE.match(text)
    return match.group(1) if match else ""


def gc(app: App, dry_run: bool = False) -> list[Item]:
    tasks = Tasks.load(app)
    items = sweep_sessions(app, tasks, dry_run)
    for repo, projects in _repos(app).items():
        items += sweep_repo(app, repo, projects, tasks, dry_run)
    items += sweep_locks(app.lock_dir, dry_run)
    if not dry_run:
        _record(app, items)
    return items


def _record(app: App, items: list[Item]) -> None:
    for item in items:
        if item.action not in ("keep", "skip"):
            detail = f"{item.action} {item.kind} {item.name}: {item.reason}"
            app.state.event("gc", item.task, app.caller.name, detail)


# ---- sessions ----------------------------------------------------------------------------
def sweep_sessions(app: App, tasks: Tasks, dry_run: bool) -> list[Item]:
    """Kill w-*/r-* sessions whose task is not pending. Managers are never touched."""
    items = []
    names = [s for s in app.tmux.sessions() if s not in app.cfg.agents]
    # Our own session last: killing it first would end this very command.
    for name in sorted(names, key=lambda s: s == app.caller.name):
        match = SESSION_RE.match(name)
        found = keys(short=match.group(1) or match.group(2)) if match else []
        if not found or tasks.is_live(found):
            continue
        task = tasks.task(found)
        item = Item("session", name, "kill", tasks.why(found), task["uuid"] if task else "")
        if not dry_run and not app.tmux.kill(name) and app.tmux.has(name):
            item.action, item.reason = "keep", f"{item.reason}; tmux kill-session failed"
        items.append(item)
    return items


# ---- worktrees and branches ----------------------------------------------------------------
def _repos(app: App) -> dict[Path, list[Project]]:
    by_repo: dict[Path, list[Project]] = {}
    for project in app.cfg.projects.values():
        by_repo.setdefault(project.repo, []).append(project)
    return by_repo


def sweep_repo(
    app: App, repo: Path, projects: list[Project], tasks: Tasks, dry_run: bool
) -> list[Item]:
    try:
        gitops.check_repo(repo, projects[0].base)
    except TtalError as err:
        return [Item("repo", str(repo), "skip", err.message)]
    # Parallel `git worktree add/remove` on one repo races (§3.3); the dry run takes no lock,
    # since taking it writes the lock file.
    lock = locks.held(locks.repo_lock(app.lock_dir, repo))
    with contextlib.nullcontext() if dry_run else lock:
        items, removed = sweep_worktrees(app, repo, projects, tasks, dry_run)
        items += prune_worktrees(repo, dry_run)
        items += sweep_branches(repo, projects, tasks, removed, dry_run)
    return items


def _worktree_records(repo: Path) -> Iterator[dict[str, str]]:
    out = gitops.check(gitops.git(repo, "worktree", "list", "--porcelain"), "git worktree list")
    for record in out.out.strip().split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in record.splitlines() if line)
        if "worktree" in fields:
            yield fields


def _base_of(task: dict[str, Any] | None, projects: list[Project]) -> str:
    by_name = {p.name: p.base for p in projects}
    return by_name.get(str((task or {}).get("project") or ""), projects[0].base)


def sweep_worktrees(
    app: App, repo: Path, projects: list[Project], tasks: Tasks, dry_run: bool
) -> tuple[list[Item], set[str]]:
    """Remove clean worktrees of finished tasks under worktree_root. Returns the removed."""
    root = os.path.realpath(app.cfg.worktree_root) + os.sep
    items, removed = [], set()
    for record in _worktree_records(repo):
        path = os.path.realpath(record["worktree"])
        if not path.startswith(root) or "prunable" in record or not os.path.isdir(path):
            continue
        branch = record.get("branch", "").removeprefix("refs/heads/")
        short = _short(branch.removeprefix("ttal/")) or _short(Path(path).name)
        found = keys(short, branch, path)
        if tasks.is_live(found):
            continue
        task = tasks.task(found)
        item = Item("worktree", path, "remove", tasks.why(found), task["uuid"] if task else "")
        _remove_worktree(repo, record, item, _base_of(task, projects), dry_run)
        removed.update([path] if item.action == "remove" else [])
        items.append(item)
    return items, removed


def _remove_worktree(
    repo: Path, record: dict[str, str], item: Item, base: str, dry_run: bool
) -> None:
    """`git worktree remove` without --force: git itself refuses a tree that became dirty
    after our check, so uncommitted work is never lost."""
    path = Path(item.name)
    try:
        dirty = gitops.dirty_paths(path)
    except TtalError as err:
        item.action, item.reason = "keep", f"{item.reason}; {err.message}"
        return
    head = record.get("HEAD", "")
    if dirty:
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        item.action, item.reason = "keep", f"{item.reason}; uncommitted changes ({dirty[0]}{more})"
    elif "locked" in record:
        item.action, item.reason = "keep", f"{item.reason}; locked: {record['locked'] or '-'}"
    elif "detached" in record and not gitops.is_ancestor(repo, head, f"refs/heads/{base}"):
        item.action = "keep"
        item.reason = f"{item.reason}; detached HEAD {head[:10]} is not on {base}"
    elif not dry_run:
        result = gitops.git(repo, "worktree", "remove", str(path))
        if not result.ok:
            item.action, item.reason = "keep", f"{item.reason}; {result.err.strip()}"


def prune_worktrees(repo: Path, dry_run: bool) -> list[Item]:
    """Worktree records whose directory is gone: `git worktree prune`."""
    items = [Item("worktree", r["worktree"], "prune", r["prunable"] or "directory is gone")
             for r in _worktree_records(repo) if "prunable" in r]  # fmt: skip
    if not dry_run:
        gitops.check(gitops.git(repo, "worktree", "prune"), "git worktree prune")
    return items


def sweep_branches(
    repo: Path, projects: list[Project], tasks: Tasks, removed: set[str], dry_run: bool
) -> list[Item]:
    """ttal/* branches of finished tasks: delete when merged, else archive, then delete."""
    checked_out = {
        r.get("branch", "").removeprefix("refs/heads/"): r["worktree"]
        for r in _worktree_records(repo)
        if "prunable" not in r and os.path.realpath(r["worktree"]) not in removed
    }
    items = []
    listing = gitops.git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/ttal/")
    for line in gitops.check(listing, "git for-each-ref").out.splitlines():
        tip, _, ref = line.partition(" ")
        branch = ref.removeprefix("refs/heads/")
        found = keys(short=_short(branch.removeprefix("ttal/")), branch=branch)
        task = tasks.task(found)
        if tasks.is_live(found) or (task is None and not found[:-1]):
            continue  # a pending task's, or a branch ttal did not make
        item = Item("branch", branch, "delete", tasks.why(found), task["uuid"] if task else "")
        if branch in checked_out:
            item.action, item.reason = "keep", f"{item.reason}; checked out at {checked_out[branch]}"
        else:
            _drop_branch(repo, branch, tip, _base_of(task, projects), item, dry_run)
        items.append(item)
    return items


def _drop_branch(repo: Path, branch: str, tip: str, base: str, item: Item, dry_run: bool) -> None:
    """Delete a merged branch; archive an unmerged one first. Both by compare-and-swap on
    its tip, so a commit made meanwhile keeps the branch."""
    if gitops.is_ancestor(repo, tip, f"refs/heads/{base}"):
        item.reason += f"; merged into {base}"
    else:
        count = gitops.git(repo, "rev-list", "--count", f"refs/heads/{base}..{tip}").out.strip()
        item.action, item.ref = "archive", ARCHIVE + branch
        item.reason += f"; {count} commit(s) not on {base}, kept as {item.ref} ({tip[:10]})"
        if not dry_run and not _archive(repo, item.ref, tip):
            item.action = "keep"
            item.reason = f"{item.reason.split(';')[0]}; {item.ref} already names another commit"
            return
    if dry_run:
        return
    if not gitops.git(repo, "update-ref", "-d", f"refs/heads/{branch}", tip).ok:
        item.reason += "; the branch moved during gc, so it was kept"
        item.action = "archive" if item.ref else "keep"


def _archive(repo: Path, ref: str, tip: str) -> bool:
    """Create ref at tip, or find it already there (a gc interrupted before the delete)."""
    created = gitops.git(repo, "update-ref", "-m", "ttal gc: archive", ref, tip, NO_REF)
    return created.ok or gitops.rev(repo, ref) == tip


# ---- locks ---------------------------------------------------------------------------------
def sweep_locks(lock_dir: Path, dry_run: bool) -> list[Item]:
    """Lock files nobody holds and whose last holder is gone. Locks in use are not reported:
    they need nothing from a person."""
    found = (_stale_lock(path, dry_run) for path in sorted(lock_dir.glob("*.lock")))
    return [item for item in found if item is not None]


def _stale_lock(path: Path, dry_run: bool) -> Item | None:
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
        if pid == os.getpid() or (pid and _alive(pid)):
            return None
        # Unlinked while we hold it: ttal.locks.held re-checks the inode after locking, so a
        # process that opened the old file meanwhile retries on a new one.
        if not dry_run:
            path.unlink(missing_ok=True)
        why = f"holder pid {pid} is gone" if pid else "no holder recorded"
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
    return True
