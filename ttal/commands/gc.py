"""`ttal gc`: remove what finished tasks left behind, and never a commit that is not on base.

Three sweeps: sessions of tasks that are no longer pending; worktrees under `worktree_root`
of finished tasks (only clean ones) and their branches (merged ones deleted, unmerged ones
archived under `refs/ttal/archive/` first); lock files whose holder is gone. A task that is
still pending protects everything that is its own. Each session, worktree and branch is
decided under its task's lock with a fresh read of the task (engine/sweep.py), then under
the repo lock on what git shows at that moment: never from a look taken before a wait.
A worktree holding files git ignores (a worker's .env) is kept unless `include_ignored`;
either way they are listed. `dry_run` decides the same things and changes nothing."""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from ttal.adapters import git, processes
from ttal.adapters.git_history import History, history
from ttal.config.model import Project
from ttal.engine.app import App
from ttal.engine.sweep import Item, Run, Tasks, deciding, keys, prepare, short_of
from ttal.errors import TtalError

ARCHIVE = "refs/ttal/archive/"
SESSION_RE = re.compile(r"^(?:w-([0-9a-f]{8})|r-([0-9a-f]{8})-[A-Za-z0-9_]+)$")


def gc(app: App, dry_run: bool = False, include_ignored: bool = False) -> list[Item]:
    run = Run(app, Tasks.load(app), dry_run, include_ignored)
    try:
        items = sweep_sessions(run)
        if run.doomed and not dry_run:
            run.tasks = Tasks.load(app)  # a fresh first look after the wait for the killed agents
        for repo, projects in _repos(app).items():
            items += sweep_repo(run, repo, projects)
    finally:
        run.close()  # the tasks' locks, held since their read
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


# ---- sessions ----------------------------------------------------------------------------
def sweep_sessions(run: Run) -> list[Item]:
    """Kill w-*/r-* sessions whose task is not pending, each decided under its task's lock
    (engine/sweep.deciding). Managers are never touched. The wait for the killed agents to
    exit comes after every decision, and holds no lock."""
    items = []
    tmux = run.app.tmux
    names = [s for s in tmux.sessions() if s not in run.app.cfg.agents]
    children: dict[int, list[int]] = {}  # the process tree, read before the first kill
    prepare(run, [m[1] or m[2] for name in names if (m := SESSION_RE.match(name))])
    # Our own session last: killing it first would end this very command.
    for name in sorted(names, key=lambda s: s == run.app.caller.name):
        if not (match := SESSION_RE.match(name)):
            continue
        with deciding(run, "session", name, "kill", keys(match[1] or match[2])) as item:
            if item is not None and item.action == "kill":
                if not children:
                    children.update(processes.children())
                _kill(run, item, children)
        items += [item] if item else []
    if not run.dry_run:
        processes.wait_gone(run.doomed)
    return items


def _kill(run: Run, item: Item, children: dict[int, list[int]]) -> None:
    tmux = run.app.tmux
    run.doomed.update(processes.family(tmux.pane_pid(item.name), children))
    if not run.dry_run:
        with run.intent("session.kill", f"kill:{item.name}", item, name=item.name):
            if not tmux.kill(item.name) and tmux.has(item.name):
                item.keep("tmux kill-session failed")


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
    with history(repo) as hist:
        items, removed = sweep_worktrees(run, repo, hist, projects)
        with run.repo_lock(repo):
            items += prune_worktrees(repo, run.dry_run)
        items += sweep_branches(run, repo, hist, projects, removed)
    return items


def _base_of(item: Item, projects: list[Project]) -> str:
    """The base of the task's project when it is on this repo, else the repo's first."""
    by_name = {p.name: p.base for p in projects}
    return by_name.get(item.project, projects[0].base)


def sweep_worktrees(
    run: Run, repo: Path, hist: History, projects: list[Project]
) -> tuple[list[Item], set[str]]:
    """Remove clean worktrees of finished tasks under worktree_root. Returns the removed.
    The list read first only names candidates; each is looked at again under its task's
    lock and then the repo's."""
    root = os.path.realpath(run.app.cfg.worktree_root) + os.sep
    items, removed = [], set()
    records = [r for r in git.worktree_records(repo)
               if os.path.realpath(r["worktree"]).startswith(root)]  # fmt: skip
    prepare(run, [_short_of_record(r) for r in records])  # their tasks: one read
    for first in records:
        path = os.path.realpath(first["worktree"])
        if "prunable" in first or not os.path.isdir(path):
            continue
        branch = first.get("branch", "").removeprefix("refs/heads/")
        found = keys(_short_of_record(first), branch, path)
        with deciding(run, "worktree", path, "remove", found) as item:
            if item is None or not _judge_worktree(run, repo, hist, first, item, projects):
                continue
        removed.update([path] if item.action == "remove" else [])
        items.append(item)
    return items, removed


def _short_of_record(record: dict[str, str]) -> str:
    branch = record.get("branch", "").removeprefix("refs/heads/")
    return short_of(branch.removeprefix("ttal/")) or short_of(Path(record["worktree"]).name)


def _judge_worktree(
    run: Run, repo: Path, hist: History, first: dict[str, str], item: Item,
    projects: list[Project],
) -> bool:  # fmt: skip
    """Under the repo lock, on the worktree's record now. False when it is no longer there."""
    with run.repo_lock(repo):
        if (record := _record_of(repo, item.name, first)) is None:
            return False
        if item.action != "keep":  # kept: its task's lock stayed busy
            _remove_worktree(run, repo, hist, record, item, _base_of(item, projects))
    return True


def _record_of(repo: Path, path: str, first: dict[str, str]) -> dict[str, str] | None:
    """The worktree's record now, when it still holds the branch it held at the first look
    (a worktree removed or switched meanwhile is not ours to judge in this run)."""
    for record in git.worktree_records(repo):
        if os.path.realpath(record["worktree"]) == path and "prunable" not in record:
            return record if record.get("branch") == first.get("branch") else None
    return None


def _remove_worktree(
    run: Run, repo: Path, hist: History, record: dict[str, str], item: Item, base: str
) -> None:
    """`git worktree remove` without --force: git itself refuses a tree that became dirty
    after our look, so uncommitted work is never lost. git does delete the files it
    ignores (a worker's .env, build state): those are named, and kept unless asked."""
    try:
        dirty = git.dirty_paths(Path(item.name))
        item.ignored = git.ignored_paths(Path(item.name))
    except TtalError as err:
        item.keep(err.message)
        return
    head = record.get("HEAD", "")
    if dirty:
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        item.keep(f"uncommitted changes ({dirty[0]}{more})")
    elif "locked" in record:
        item.keep(f"locked: {record['locked'] or '-'}")
    elif "detached" in record and not hist.is_on(head, f"refs/heads/{base}"):
        item.keep(f"detached at {head[:10]}, not on {base}")
    elif item.ignored and not run.include_ignored:
        item.keep(f"holds files git ignores ({_some(item.ignored)}); "
                  "`ttal gc --include-ignored` deletes them with the worktree")  # fmt: skip
    else:
        if item.ignored:
            item.reason += f"; with the files git ignores ({_some(item.ignored)})"
        if run.dry_run:
            return
        with run.intent("worktree.remove", f"rm:{item.name}", item, path=item.name, repo=str(repo)):
            result = git.remove_clean_worktree(repo, item.name)
        if not result.ok:
            item.keep(result.err.strip())


def _some(paths: list[str]) -> str:
    return ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def prune_worktrees(repo: Path, dry_run: bool) -> list[Item]:
    """Worktree records whose directory is gone: `git worktree prune`."""
    items = [Item("worktree", r["worktree"], "prune", r["prunable"] or "directory is gone")
             for r in git.worktree_records(repo) if "prunable" in r]  # fmt: skip
    if not dry_run:
        git.prune_worktrees(repo)
    return items


def sweep_branches(
    run: Run, repo: Path, hist: History, projects: list[Project], removed: set[str]
) -> list[Item]:
    """ttal/* branches of finished tasks: delete when merged, else archive, then delete.
    Each decided under its task's lock, then the repo's, on the branch's tip at that time."""
    items = []
    branches = [branch for _tip, branch in hist.branches("ttal/")]
    prepare(run, [short_of(b.removeprefix("ttal/")) for b in branches])  # one read
    for branch in branches:
        short = short_of(branch.removeprefix("ttal/"))
        found = keys(short, branch)
        if not (short or run.tasks.is_live(found) or run.tasks.task(found)):
            continue  # a branch ttal did not make
        with deciding(run, "branch", branch, "delete", found) as item:
            if item is None or not _judge_branch(run, repo, hist, item, projects, removed):
                continue
        items.append(item)
    return items


def _judge_branch(
    run: Run, repo: Path, hist: History, item: Item, projects: list[Project],
    removed: set[str],
) -> bool:  # fmt: skip
    """Under the repo lock, on the branch's tip now. False when the branch is gone."""
    with run.repo_lock(repo):
        if not (tip := git.rev(repo, f"refs/heads/{item.name}")):
            return False
        checked_out = _checked_out(repo, removed)
        if item.action == "keep":  # its task's lock stayed busy
            pass
        elif item.name in checked_out:
            item.keep(f"checked out at {checked_out[item.name]}")
        else:
            _drop_branch(run, repo, hist, tip, _base_of(item, projects), item)
    return True


def _checked_out(repo: Path, removed: set[str]) -> dict[str, str]:
    """Branch -> the worktree it stays checked out in (after this gc's removals)."""
    found = {}
    for record in git.worktree_records(repo):
        if "prunable" not in record and os.path.realpath(record["worktree"]) not in removed:
            found[record.get("branch", "").removeprefix("refs/heads/")] = record["worktree"]
    return found


def _drop_branch(run: Run, repo: Path, hist: History, tip: str, base: str, item: Item) -> None:
    """Delete a merged branch; archive an unmerged one first. The delete is a compare-and-swap
    on the tip we looked at, so a commit made meanwhile keeps the branch."""
    if hist.is_on(tip, f"refs/heads/{base}"):
        item.reason += f"; merged into {base}"
    else:
        ahead = hist.ahead(tip, f"refs/heads/{base}")
        ref, why = (
            ARCHIVE + item.name,
            f"{ahead.count if ahead else 'some'} commit(s) not on {base}",
        )
        why += f" (newest {ahead.newest[:50]!r})" if ahead and ahead.newest else ""
        if not _archivable(hist, ref, tip, git.rev(repo, ref)):
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


def _archivable(hist: History, ref: str, tip: str, old: str) -> bool:
    """The archive ref is free (old is ""), or already reaches only commits that tip reaches
    too (an earlier gc archived an older tip and the branch moved on)."""
    return not old or old == tip or hist.is_on(old, tip)


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
        if pid == os.getpid() or (pid and not ends and processes.alive(pid)):
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
