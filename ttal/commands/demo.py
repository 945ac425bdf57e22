"""`ttal demo`: a whole pipeline with scripted agents, on real Taskwarrior, git and tmux,
in a sandbox. Six tasks run at once: one gets a round of requested changes, two edit the
same line so the second merge is refused (nothing lost), one goes through a plan stage and
a human gate, and one is caught by the web project's check in the merge queue (its base
never sees the broken page; docs/merge-queue.md)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ttal.adapters import git, poll, relay, sandbox
from ttal.commands.doctor import doctor
from ttal.commands.review import human_approve
from ttal.commands.status import stage_label
from ttal.engine import drive, usage
from ttal.engine.app import App
from ttal.errors import Exit, TtalError

TIMEOUT = 60.0
TASKS = [
    ("Add a rate limit", "api", ()),  # the review lead asks for changes once
    ("Set greeting to hello", "api", ()),  # these two edit the same line:
    ("Set greeting to bonjour", "api", ()),  # the later merge is refused
    ("Write release notes", "web", ()),
    ("Plan the search page", "web", ("feature",)),  # plan stage, then a human gate
    ("Drop the page title", "web", ()),  # its merge queue check fails: sent back
]
# The web project merges through the merge queue: its check must pass on the merge result.
WEB_CHECK = """\
#!/bin/sh
echo "checking index.html"
grep -q '<h1>' index.html || { echo "FAIL: index.html has no <h1> title"; exit 1; }
echo "ok"
"""
REPOS = {
    "api": {"greeting.txt": "hi\n", "README.md": "# api\n"},
    "web": {"index.html": "<h1>web</h1>\n", "README.md": "# web\n", "check.sh": WEB_CHECK},
}


@dataclass
class Tracked:
    uuid: str
    description: str
    project: str
    label: str = "pending"
    result: str = ""
    finished_at: float = 0.0


@dataclass(frozen=True)
class DemoRow:
    task: str
    project: str
    description: str
    result: str
    rounds: int
    tags: str
    kept: str  # the branch a refused merge kept, and its unmerged commits
    seconds: float
    cost: str = "-"  # what its agents' model replies cost (the scripts' `usage:` steps)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DemoSummary:
    elapsed: float
    tasks: list[DemoRow]
    served_warm: int = 0  # the agents' ttal commands the warm server ran
    finished: bool = False  # every task merged or refused within the time limit
    kept: sandbox.Sandbox | None = field(default=None)  # the sandbox, when left for a look

    def as_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed, "tasks": [t.as_dict() for t in self.tasks],
                "served_warm": self.served_warm}  # fmt: skip

    @property
    def exit_code(self) -> int:
        return int(Exit.OK if self.finished else Exit.ERROR)


Progress = Callable[[float, str], None]  # seconds since the start, what happened


def run_demo(keep: bool, directory: Path | None, progress: Progress) -> DemoSummary:
    root = directory or Path(tempfile.mkdtemp(prefix="ttal-demo-"))
    box = sandbox.build(root, repos=REPOS)
    _with_check(box)
    _enter(box)
    app = App.load(box.config)
    log = _Log(progress)
    try:
        return _run(app, box, log, keep)
    finally:
        if not keep:
            relay.control("stop")  # the warm server the agents' commands started in here
            box.kill_tmux()
            if directory is None:
                shutil.rmtree(root, ignore_errors=True)


def _with_check(box: sandbox.Sandbox) -> None:
    text = box.config.read_text(encoding="utf-8")
    web = f"  web:\n    repo: {box.repos['web']}\n    base: main\n"
    check = web + "    check: sh check.sh\n    check_timeout: 60\n"
    box.config.write_text(text.replace(web, check), encoding="utf-8")


def _enter(box: sandbox.Sandbox) -> None:
    """Act as a person inside the sandbox: its config and Taskwarrior, no agent identity."""
    env = box.env()  # before the pops: it keeps TTAL_SERVER
    for key in [k for k in os.environ if k.startswith("TTAL_")] + ["TMUX", "TMUX_PANE"]:
        os.environ.pop(key, None)
    os.environ.update(env)


class _Log:
    def __init__(self, progress: Progress) -> None:
        self.progress, self.start = progress, time.monotonic()

    def __call__(self, text: str) -> None:
        self.progress(time.monotonic() - self.start, text)


def _run(app: App, box: sandbox.Sandbox, log: _Log, keep: bool) -> DemoSummary:
    log(f"sandbox {box.root} (tmux -L {box.socket})")
    failed = [c for c in doctor(app, fix=True) if not c.ok]
    if failed:
        raise TtalError(f"demo setup failed: {failed[0].name}: {failed[0].detail}")
    tracked = [_add(app, d, p, t) for d, p, t in TASKS]
    for item in tracked:
        outcome = drive.go(app, item.uuid)
        log(f"{item.project:<4} {item.description}: {'; '.join(outcome.did)}")
    _watch(app, tracked, log)
    from ttal.commands.server import served_count

    return DemoSummary(round(time.monotonic() - log.start, 1), _rows(app, tracked),
                       served_count(), all(t.result for t in tracked),
                       box if keep else None)  # fmt: skip


def _add(app: App, description: str, project: str, tags: tuple[str, ...]) -> Tracked:
    uuid = app.tw.add(description, f"project:{project}", *(f"+{t}" for t in tags))
    return Tracked(uuid, description, project)


def _watch(app: App, tracked: list[Tracked], log: _Log) -> None:
    poll.until(lambda: _watch_pass(app, tracked, log), TIMEOUT, interval=0.2)


def _watch_pass(app: App, tracked: list[Tracked], log: _Log) -> bool:
    """One look at every task not finished yet; True when none is left."""
    events = app.state.events(limit=1000)
    refused = {e.task for e in events if e.kind == "merge-refused"}
    caught = {e.task: e.detail for e in events if e.kind == "merge-returned"}
    for item in (t for t in tracked if not t.result):
        task = app.tw.get(item.uuid)
        label = stage_label(app, task)
        if label != item.label:
            item.label = label
            log(f"{item.project:<4} {item.description}: {label}")
        if label == "awaiting approval":
            log(f"{item.project:<4} {item.description}: a person runs `ttal approve`")
            human_approve(app, item.uuid)
        elif task.get("status") == "completed":
            item.result, item.finished_at = "merged", time.monotonic() - log.start
        elif item.uuid in caught:
            item.result, item.finished_at = "caught by check", time.monotonic() - log.start
            log(
                f"{item.project:<4} {item.description}: {caught[item.uuid]}: sent back to its "
                f"worker, {item.project}'s main never saw it"
            )
        elif item.uuid in refused:
            item.result, item.finished_at = "merge refused", time.monotonic() - log.start
            if "merge refused" not in item.label:  # its stage label said it already
                log(f"{item.project:<4} {item.description}: merge refused (conflict); kept")
    return all(t.result for t in tracked)


def _rows(app: App, tracked: list[Tracked]) -> list[DemoRow]:
    usage.read_all(app)
    costs = usage.cost_by_task(app, [t.uuid for t in tracked])
    rows = []
    for item in tracked:
        task = app.tw.get(item.uuid)
        repo = app.cfg.projects[item.project].repo
        branch = str(task.get("ttal_branch") or "")
        tip = git.rev(repo, f"refs/heads/{branch}") if branch else ""
        kept = bool(tip) and not git.is_ancestor(repo, tip, "refs/heads/main")
        rows.append(
            DemoRow(
                task=item.uuid[:8],
                project=item.project,
                description=item.description,
                result=item.result or f"unfinished ({item.label})",
                rounds=int(task.get("ttal_round") or 0),
                tags=",".join(sorted(task.get("tags") or [])),
                kept=f"{branch} (+{_unmerged(repo, branch)} commits)" if kept else "",
                seconds=round(item.finished_at, 1),
                cost=costs[item.uuid].label() if item.uuid in costs else "-",
            )
        )
    return rows


def _unmerged(repo: Path, branch: str) -> int:
    return git.count(repo, "main", branch) or 0
