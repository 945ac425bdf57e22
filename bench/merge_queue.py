"""The merge queue's own cost, against its floor, and its check runs for red batches.

    .venv/bin/python bench/merge_queue.py [--branches N] [--json]

Overhead: N approved branches go through the queue (engine/merge_queue.drive) with a check
that does next to nothing (`test ! -e BROKEN`), in batches of 1 and of N; per merged
branch that is the queue's bookkeeping, the merge commits, the throwaway worktree, the
compare-and-swap (with the base checkout's files) and the `+merged` write. The floor,
timed in the same run, is what a merge needs at least: per branch, raw `git worktree add`
+ `git merge` + `git update-ref` (target: the queue at most 2x that).

Check runs: batches of 4, 8 and 16 with no bad branch and with one (last in the batch, the
costliest place for halving), counted from the check_runs table, against 1 + 2·log2(N).
Everything runs in a throwaway sandbox (Taskwarrior, git, state), removed at the end; the
numbers are also written to bench/MERGE_QUEUE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ttal.adapters import git, sandbox  # noqa: E402
from ttal.adapters.proc import check, run  # noqa: E402
from ttal.core.merge_queue import extra_runs_bound  # noqa: E402
from ttal.engine import merge_queue  # noqa: E402
from ttal.engine.app import App  # noqa: E402

RESULTS_MD = Path(__file__).resolve().parent / "MERGE_QUEUE.md"
CHECK = "test ! -e BROKEN"
PIPELINE_TAGS = ("+coded", "+reviewing", "+lgtm")  # approved: next is the merge stage


def world(root: Path, name: str) -> App:
    """A sandbox whose web project merges through the queue; the process acts in it."""
    box = sandbox.build(root / name, repos={"web": {"README.md": "# web\n"}})
    text = box.config.read_text(encoding="utf-8")
    web = f"  web:\n    repo: {box.repos['web']}\n    base: main\n"
    box.config.write_text(text.replace(web, web + f"    check: {CHECK}\n"), encoding="utf-8")
    os.environ.update(box.env())
    app = App.load(box.config)
    from ttal.commands.doctor import doctor

    doctor(app, fix=True)
    return app


def queue(app: App, count: int, bad: int = -1) -> list[str]:
    """`count` approved tasks, each with a branch of one commit, queued in order."""
    project = app.cfg.projects["web"]
    repo, uuids = project.repo, []
    for i in range(count):
        # Approved tasks as a reviewer leaves them (ttal's rules refuse the tags from here).
        added = check(
            run(
                [
                    "task",
                    "rc.hooks=off",
                    "rc.verbose=new-uuid",
                    "add",
                    f"description:Bench {i}",
                    "project:web",
                    *PIPELINE_TAGS,
                ]
            ),
            "task add",
        )
        uuid = added.out.split("Created task ")[1].split(".")[0].strip()
        branch = f"ttal/{uuid[:8]}-bench-{i}"
        files = {f"notes/{i}.txt": f"{i}\n", **({"BROKEN": "x\n"} if i == bad else {})}
        tip = commit_on(repo, branch, files, f"Bench {i}")
        app.tw.set(uuid, ttal_branch=branch)
        app.state.enqueue_merge(uuid, "web", "main", branch, tip, "merged",
                                f"Merge {branch}: Bench {i} (ttal task {uuid[:8]})")  # fmt: skip
        uuids.append(uuid)
    return uuids


def commit_on(repo: Path, branch: str, files: dict[str, str], message: str) -> str:
    """A branch off main with one commit of `files`, made without a checkout."""
    env = {**os.environ, **sandbox.GIT_ENV, "GIT_INDEX_FILE": str(repo / ".git" / "bench-index")}
    do = lambda *a: check(git.git(repo, *a, env=env), a[0]).out.strip()  # noqa: E731
    do("read-tree", "main")
    for name, text in files.items():
        blob = check(run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
                                 stdin=text), "hash-object").out.strip()  # fmt: skip
        do("update-index", "--add", "--cacheinfo", f"100644,{blob},{name}")
    tip = do("commit-tree", do("write-tree"), "-p", "main", "-m", message)
    do("update-ref", f"refs/heads/{branch}", tip)
    return tip


def queue_ms(app: App, count: int, batch: int) -> float:
    """Milliseconds per merged branch: `count` branches through the queue, `batch` at a time."""
    project = app.cfg.projects["web"]
    project = type(project)(**{**project.__dict__, "batch": batch})
    queue(app, count)
    start = time.perf_counter()
    merge_queue.drive(app, project)
    elapsed = time.perf_counter() - start
    assert not app.state.merge_entries("web"), "every branch should have merged"
    return elapsed * 1000 / count


def floor_ms(root: Path, count: int) -> float:
    """Per branch: raw `git worktree add`, `git merge`, `git update-ref` (and nothing else)."""
    repo = sandbox.make_repo(root / "floor", {"README.md": "# web\n"})
    tips = [(f"b{i}", commit_on(repo, f"b{i}", {f"notes/{i}.txt": f"{i}\n"}, f"B {i}"))
            for i in range(count)]  # fmt: skip
    env = {**os.environ, **sandbox.GIT_ENV}
    start = time.perf_counter()
    for i, (branch, _) in enumerate(tips):
        old = git.rev(repo, "refs/heads/main")
        tree = root / f"floor-wt-{i}"
        check(git.git(repo, "worktree", "add", "--detach", str(tree), old, env=env), "add")
        check(git.git(tree, "merge", "--no-edit", "-q", branch, env=env), "merge")
        new = git.rev(tree, "HEAD")
        check(git.git(repo, "update-ref", "refs/heads/main", new, old, env=env), "update-ref")
    return (time.perf_counter() - start) * 1000 / count


def check_runs(app: App, size: int, bad: bool) -> int:
    project = app.cfg.projects["web"]
    project = type(project)(**{**project.__dict__, "batch": size})
    before = len(app.state.check_runs("web"))
    queue(app, size, bad=size - 1 if bad else -1)
    merge_queue.drive(app, project)
    return len(app.state.check_runs("web")) - before


def bench(branches: int, repeats: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ttal-bench-mq-"))
    saved = dict(os.environ)
    os.environ.update(HOME=str(tmp), XDG_CONFIG_HOME=str(tmp / ".config"))
    try:
        one, batched, floor = [], [], []
        for r in range(repeats):  # alternate, so load drift hits all three alike
            floor.append(floor_ms(tmp / f"f{r}", branches))
            one.append(queue_ms(world(tmp, f"one{r}"), branches, 1))
            batched.append(queue_ms(world(tmp, f"batch{r}"), branches, branches))
        runs = {}
        for size in (4, 8, 16):
            for bad in (False, True):
                runs[f"{size}, {'1 bad' if bad else '0 bad'}"] = (
                    check_runs(world(tmp, f"runs{size}{bad}"), size, bad),
                    1 + (extra_runs_bound(size) if bad else 0),
                )
        return {"branches": branches, "repeats": repeats,
                "floor_ms": statistics.median(floor), "queue_batch1_ms": statistics.median(one),
                "queue_batchN_ms": statistics.median(batched), "check_runs": runs}  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


def text(r: dict[str, Any]) -> str:
    f, n = r["floor_ms"], r["branches"]
    lines = [f"merge queue, per merged branch ({n} branches, median of {r['repeats']}; check "
             "time excluded: the check is a `test -e`)",
             f"  floor (git worktree add + merge + update-ref) {f:8.1f} ms",
             f"  queue, batch 1                               {r['queue_batch1_ms']:8.1f} ms"
             f"  {r['queue_batch1_ms'] / f:4.1f}x  (target <= 2x)",
             f"  queue, batch {n:<2}                              {r['queue_batchN_ms']:8.1f} ms"
             f"  {r['queue_batchN_ms'] / f:4.1f}x",
             "check runs per batch (one bad branch: last in the batch)"]  # fmt: skip
    for name, (count, bound) in r["check_runs"].items():
        lines.append(f"  batch of {name:<10} {count:3d} runs   bound {bound}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=8, help="branches per overhead run")
    parser.add_argument("--repeats", type=int, default=3, help="overhead runs (median)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args()
    result = bench(args.branches, args.repeats)
    body = text(result)
    head = "# Merge queue benchmark\n\nWritten by `make bench` (`bench/merge_queue.py`)."
    RESULTS_MD.write_text(f"{head}\n\n```\n{body}\n```\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
