"""`ttal demo`: a whole pipeline with scripted agents, on real Taskwarrior, git and tmux,
in a sandbox. Five tasks run at once: one gets a round of requested changes, two edit the
same line so the second merge is refused (nothing lost), one goes through a plan stage and
a human gate."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttal.adapters import git, poll, sandbox
from ttal.cli import render
from ttal.commands.doctor import doctor
from ttal.commands.review import human_approve
from ttal.commands.status import stage_label
from ttal.engine import drive
from ttal.engine.app import App
from ttal.errors import TtalError
from ttal.warm import client

TIMEOUT = 60.0
TASKS = [
    ("Add a rate limit", "api", ()),  # the review lead asks for changes once
    ("Set greeting to hello", "api", ()),  # these two edit the same line:
    ("Set greeting to bonjour", "api", ()),  # the later merge is refused
    ("Write release notes", "web", ()),
    ("Plan the search page", "web", ("feature",)),  # plan stage, then a human gate
]


@dataclass
class Tracked:
    uuid: str
    description: str
    project: str
    label: str = "pending"
    result: str = ""
    finished_at: float = 0.0


def run_demo(keep: bool, directory: Path | None, as_json: bool) -> int:
    root = directory or Path(tempfile.mkdtemp(prefix="ttal-demo-"))
    box = sandbox.build(root)
    _enter(box)
    app = App.load(box.config)
    log = _Log(quiet=as_json)
    try:
        return _run(app, box, log, as_json, keep)
    finally:
        if not keep:
            client.control("stop")  # the warm server the agents' commands started in here
            box.kill_tmux()
            if directory is None:
                shutil.rmtree(root, ignore_errors=True)


def _enter(box: sandbox.Sandbox) -> None:
    """Act as a person inside the sandbox: its config and Taskwarrior, no agent identity."""
    env = box.env()  # before the pops: it keeps TTAL_SERVER
    for key in [k for k in os.environ if k.startswith("TTAL_")] + ["TMUX", "TMUX_PANE"]:
        os.environ.pop(key, None)
    os.environ.update(env)


class _Log:
    def __init__(self, quiet: bool) -> None:
        self.quiet, self.start = quiet, time.monotonic()

    def __call__(self, text: str) -> None:
        if not self.quiet:
            render.say(f"{time.monotonic() - self.start:5.1f}s  {text}")


def _run(app: App, box: sandbox.Sandbox, log: _Log, as_json: bool, keep: bool) -> int:
    log(f"sandbox {box.root} (tmux -L {box.socket})")
    failed = [c for c in doctor(app, fix=True) if not c.ok]
    if failed:
        raise TtalError(f"demo setup failed: {failed[0].name}: {failed[0].detail}")
    tracked = [_add(app, d, p, t) for d, p, t in TASKS]
    for item in tracked:
        outcome = drive.go(app, item.uuid)
        log(f"{item.project:<4} {item.description}: {'; '.join(outcome.did)}")
    _watch(app, tracked, log)
    summary = _summary(app, tracked, time.monotonic() - log.start)
    warm = client.control("status")  # "pid running served uptime", from ttal/server.py
    summary["served_warm"] = int(warm.split()[2]) if warm else 0
    if as_json:
        render.emit_json(summary)
    else:
        _print_summary(summary, box, keep)
    return 0 if all(t.result for t in tracked) else 1


def _add(app: App, description: str, project: str, tags: tuple[str, ...]) -> Tracked:
    uuid = app.tw.add(description, f"project:{project}", *(f"+{t}" for t in tags))
    return Tracked(uuid, description, project)


def _watch(app: App, tracked: list[Tracked], log: _Log) -> None:
    poll.until(lambda: _watch_pass(app, tracked, log), TIMEOUT, interval=0.2)


def _watch_pass(app: App, tracked: list[Tracked], log: _Log) -> bool:
    """One look at every task not finished yet; True when none is left."""
    refused = {e.task for e in app.state.events() if e.kind == "merge-refused"}
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
        elif item.uuid in refused:
            item.result, item.finished_at = "merge refused", time.monotonic() - log.start
            log(f"{item.project:<4} {item.description}: merge refused (conflict); kept")
    return all(t.result for t in tracked)


def _summary(app: App, tracked: list[Tracked], elapsed: float) -> dict[str, Any]:
    rows = []
    for item in tracked:
        task = app.tw.get(item.uuid)
        repo = app.cfg.projects[item.project].repo
        branch = str(task.get("ttal_branch") or "")
        tip = git.rev(repo, f"refs/heads/{branch}") if branch else ""
        kept = bool(tip) and not git.is_ancestor(repo, tip, "refs/heads/main")
        rows.append(
            {
                "task": item.uuid[:8],
                "project": item.project,
                "description": item.description,
                "result": item.result or f"unfinished ({item.label})",
                "rounds": int(task.get("ttal_round") or 0),
                "tags": ",".join(sorted(task.get("tags") or [])),
                "kept": f"{branch} (+{_unmerged(repo, branch)} commits)" if kept else "",
                "seconds": round(item.finished_at, 1),
            }
        )
    return {"elapsed": round(elapsed, 1), "tasks": rows}


def _unmerged(repo: Path, branch: str) -> int:
    return git.count(repo, "main", branch) or 0


def _print_summary(summary: dict[str, Any], box: sandbox.Sandbox, keep: bool) -> None:
    cols = ["task", "project", "description", "result", "rounds", "seconds", "kept"]
    render.say("")
    render.say(render.table(summary["tasks"], cols, title=f"Summary ({summary['elapsed']} s)"))
    render.say("\nNothing was lost: a refused merge keeps its branch, worktree and commits.")
    if summary["served_warm"]:
        render.say(f"The agents' {summary['served_warm']} ttal commands ran on the warm server.")
    if keep:
        render.say(
            f"\nThe sandbox is kept. Look around:\n"
            f"  export TTAL_CONFIG={box.config} TASKRC={box.taskrc}\n"
            f"  ttal status; ttal attach <session>; task all\n"
            f"  when done: tmux -L {box.socket} kill-server; rm -rf {box.root}"
        )
