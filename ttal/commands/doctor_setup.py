"""`ttal doctor`'s checks of the setup around ttal: Taskwarrior 3.x over 2.x data, the git
identity the agents commit with, and the runtimes' versions beside the proven ones."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ttal.adapters import git
from ttal.adapters.forges.base import Forge
from ttal.adapters.proc import run
from ttal.config.model import Project
from ttal.engine.app import App
from ttal.errors import TtalError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fixed: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# docs/runtimes.md: the versions ttal was last proven against.
PROVEN = {"claude": "2.1.328", "codex": "0.171.0"}
V2_FILES = ("pending.data", "completed.data")
IDENT_FIX = (
    'git config --global user.name "Your Name" and git config --global user.email '
    "you@example.com (or GIT_AUTHOR_*/GIT_COMMITTER_* in the runtime's env:)"
)


def task_data(app: App) -> Check:
    """Taskwarrior 3.x reads its own database and answers "no tasks" (exit 0) over data
    that 2.x left in pending.data/completed.data until `task import-v2` has run."""
    major = run(["task", "--version"]).out.strip().split(".")[0]
    where = app.tw.call("_get", "rc.data.location").out.strip()
    data = Path(os.path.expanduser(where)) if where else None
    if data is None:
        return Check("task data", True, "data.location unknown")
    found = [name for name in V2_FILES if (data / name).is_file() and (data / name).stat().st_size]
    if major.isdigit() and int(major) >= 3 and found:
        counted = app.tw.call("count").out.strip()
        if counted == "0":
            return Check("task data", False, (
                f"{data} holds Taskwarrior 2.x data ({', '.join(found)}) but Taskwarrior "
                f"{major}.x shows no tasks: run `task import-v2` once, then `ttal doctor`"
            ))  # fmt: skip
    return Check("task data", True, str(data))


def git_identity(app: App) -> Check:
    """Workers commit in their worktrees with ttal's environment plus their runtime's env:;
    without a name and email git refuses every commit, and the task stops."""
    repos = sorted({p.repo for p in app.cfg.projects.values()})
    used = sorted({app.cfg.agents[a].runtime for a in app.cfg.agents})
    envs: list[tuple[str, dict[str, str] | None]] = [("ttal's environment", None)]
    envs += [(f"runtime {name}", {**os.environ, **app.cfg.runtimes[name].env})
             for name in used if app.cfg.runtimes[name].env]  # fmt: skip
    bad = []
    for repo in repos:
        for label, env in envs:
            if repo.is_dir() and (why := git.ident_error(repo, env)):
                bad.append(f"{repo} ({label}): {why}")
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        return Check("git identity", False, f"workers cannot commit in {bad[0]}{more}; "
                     f"set one: {IDENT_FIX}")  # fmt: skip
    return Check("git identity", True, f"set for {len(repos)} repo(s)")


def runtime_version(kind: str, command: str) -> str:
    """`<command> --version` beside the proven version: informational only."""
    if kind not in PROVEN or not shutil.which(command):
        return ""
    try:
        out = run([command, "--version"], timeout=20).out.strip()
    except TtalError as err:
        return f"version unknown: {err.message}"
    match = re.search(r"\d+\.\d+\.\d+", out)
    found = match.group(0) if match else (out.splitlines() or ["unknown"])[0][:40]
    return f"version {found} (proven: {PROVEN[kind]})"


def forges(app: App) -> list[Check]:
    """Projects that merge through a forge need `gh` and the user's own login to it
    (`gh auth status`); ttal pushes and opens PRs with it, the agents never do."""
    from ttal.engine import forge

    used = [p for p in app.cfg.projects.values() if forge.uses_forge(p)]
    if not used:
        return []
    if not shutil.which("gh"):
        return [Check("gh", False, "not installed (projects merge: github); on Debian/Ubuntu: "
                      "apt-get install gh, then `gh auth login`")]  # fmt: skip
    return [_forge_login(forge.forge_of, project) for project in used]


def _forge_login(forge_of: Callable[[Project], Forge], project: Project) -> Check:
    name = f"forge {project.name}"
    try:
        hub = forge_of(project)
        problem = hub.auth_problem()
    except TtalError as err:
        return Check(name, False, err.message)
    if problem:
        return Check(name, False, f"{problem}; run `gh auth login` (ttal uses your login)")
    return Check(name, True, f"gh is logged in for {project.pr.repo or project.remote}")
