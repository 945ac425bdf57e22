"""Where one `task` call's time goes, on a store of a few years' history (issue 14).

Builds a Taskwarrior store of N tasks (default 25,000: 2,500 pending, the rest completed or
deleted, as a person's store looks after years) with `task import`, lets one report's
garbage collection move the finished ones to completed.data (2.6), then times variants of
the read ttal makes most (`task <uuid> export` of one pending task) and of its write: the
child's CPU time (user + sys), median of --runs. Run it on 2.6 and on 3.x:

    python bench/task_call_cost.py                         # the `task` on PATH
    python bench/task_call_cost.py --task /work/main/.tools/tw3/bin/task  # imports 2.6's files

The store is built once per binary and size under --cache (default /tmp/ttal-bench-stores);
nothing outside it is touched (TASKRC and TASKDATA point inside it)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid as uuid_module
from pathlib import Path

UDAS = ("ttal_branch", "ttal_worktree", "ttal_session", "ttal_review", "ttal_stage")
BASE = ["rc.confirmation=no", "rc.verbose=nothing", "rc.json.array=on", "rc.bulk=0",
        "rc.recurrence.confirmation=no", "rc.dependency.confirmation=no"]  # fmt: skip


def build(task: str, root: Path, size: int) -> Path:
    """The store (its dir, with a taskrc), built once."""
    data = root / "data"
    if (root / "ready").exists():
        return data
    shutil.rmtree(root, ignore_errors=True)
    data.mkdir(parents=True)
    rc = root / "taskrc"
    lines = [f"data.location={data}", "hooks=off"]
    lines += [f"uda.{u}.type=string" for u in UDAS]
    rc.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pending = max(size // 10, 1)
    rows = []
    for n in range(size):
        status = "pending" if n < pending else "deleted" if n % 10 == 0 else "completed"
        row = {"uuid": str(uuid_module.uuid4()), "description": f"task {n} of a long history",
               "status": status, "entry": "20240101T000000Z", "project": f"p{n % 7}"}  # fmt: skip
        if status != "pending":
            row["end"] = "20240102T000000Z"
        if n % 3 == 0:
            row["tags"] = ["coded", "merged"] if status == "completed" else ["work"]
            row["ttal_branch"] = f"ttal/{row['uuid'][:8]}-task-{n}"
        rows.append(row)
    env = _env(root)
    for start in range(0, size, 5000):  # in chunks: one huge import is slow on 2.6
        chunk = "\n".join(json.dumps(r) for r in rows[start : start + 5000]) + "\n"
        proc = subprocess.run([task, *BASE, "import", "-"], input=chunk, text=True, env=env,
                              capture_output=True)  # fmt: skip
        if proc.returncode != 0:
            sys.exit(f"import failed: {proc.stderr[:500]}")
    subprocess.run([task, "rc.verbose=nothing", "list"], env=env, capture_output=True)  # gc
    (root / "target").write_text(rows[pending // 2]["uuid"], encoding="utf-8")
    (root / "ready").touch()
    return data


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TASKDATA",)}
    env["TASKRC"] = str(root / "taskrc")
    return env


def cpu(argv: list[str], env: dict[str, str], runs: int) -> str:
    """CPU milliseconds (user + sys) of the child: "median (min)". An `@` in an argument is
    replaced by the run's number (a write that changes something each time)."""
    samples = []
    for n in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run_argv = [a.replace("@", str(n)) for a in argv]
        proc = subprocess.run(run_argv, env=env, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{argv}: {proc.stderr[:300]}")
        samples.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                       * 1000)  # fmt: skip
    return f"{statistics.median(samples):.0f} ({min(samples):.0f})"


def variants(task: str, data: Path, uuid: str) -> list[tuple[str, list[str]]]:
    ttal = [task, *BASE, f"rc.data.location={data}"]
    read = [*ttal, "rc.gc=0"]
    return [
        ("`<uuid> export` as ttal reads (its rc overrides, rc.gc=0)", [*read, uuid, "export"]),
        ("the same with gc on (Taskwarrior's default)", [*ttal, uuid, "export"]),
        ("no rc overrides at all", [task, uuid, "export"]),
        ("+ rc.hooks=off", [*read, "rc.hooks=off", uuid, "export"]),
        ("+ rc.recurrence=0", [*read, "rc.recurrence=0", uuid, "export"]),
        ("`uuid:<uuid>` (an attribute filter)", [*read, f"uuid:{uuid}", "export"]),
        ("`status:pending <uuid>`", [*read, "status:pending", uuid, "export"]),
        (
            "`status:pending uuid:<uuid>`, gc on",
            [*ttal, "status:pending", f"uuid:{uuid}", "export"],
        ),
        ("short uuid (8 hex)", [*read, uuid[:8], "export"]),
        ("`1 export` (an id), gc on", [*ttal, "1", "export"]),
        ("`status:pending export` (every pending task)", [*read, "status:pending", "export"]),
        ("`export` (every task)", [*read, "export"]),
        ("`_get <uuid>.status` (a DOM lookup)", [*read, "_get", f"{uuid}.status"]),
        ("`_version` (start-up only)", [task, "_version"]),
    ]


def write_variants(task: str, data: Path, uuid: str) -> list[tuple[str, list[str]]]:
    ttal = [task, *BASE, f"rc.data.location={data}", "rc.hooks=off"]
    return [
        ("`<uuid> modify` a UDA as ttal writes (hooks off, gc on)",
         [*ttal, uuid, "modify", "ttal_stage:@"]),
        ("the same with rc.gc=0", [*ttal, "rc.gc=0", uuid, "modify", "ttal_stage:@"]),
    ]  # fmt: skip


def without_history(task: str, root: Path) -> Path | None:
    """2.6: a copy of the store with an empty completed.data (where does the time go?)."""
    data = root / "data"
    if not (data / "completed.data").exists():
        return None
    bare = root.parent / f"{root.name}-no-history"
    shutil.rmtree(bare, ignore_errors=True)
    shutil.copytree(root, bare)
    (bare / "data" / "completed.data").write_text("", encoding="utf-8")
    return bare / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--task", default=shutil.which("task") or "task")
    parser.add_argument(
        "--v2-task",
        default="/usr/bin/task",
        help="a 2.6 `task` that builds the store 3.x imports (import-v2)",
    )
    parser.add_argument("--size", type=int, default=25000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ttal-bench-stores"))
    args = parser.parse_args()
    version = _version(args.task)
    root = args.cache / f"tw{version}-{args.size}"
    started = time.monotonic()
    if version.startswith("2."):
        data = build(args.task, root, args.size)
    else:  # 3.x's `task import` takes minutes per thousand tasks: import 2.6's files
        v2 = args.cache / f"tw{_version(args.v2_task)}-{args.size}"
        build(args.v2_task, v2, args.size)
        data = import_v2(args.task, v2, root)
    uuid = (root / "target").read_text(encoding="utf-8")
    env = _env(root)
    files = {p.name: p.stat().st_size for p in data.iterdir() if p.is_file()}
    print(f"Taskwarrior {version}, {args.size} tasks (ready in {time.monotonic() - started:.0f}s)"
          f", files {files}, load {os.getloadavg()[0]:.1f}; CPU ms of the child, median (min)"
          f" of {args.runs}")  # fmt: skip
    print("| call | CPU ms |\n|---|---|")
    for name, argv in variants(args.task, data, uuid) + write_variants(args.task, data, uuid):
        print(f"| {name} | {cpu(argv, env, args.runs)} |", flush=True)
    if (bare := without_history(args.task, root)) is not None:
        argv = [args.task, *BASE, f"rc.data.location={bare}", "rc.gc=0", uuid, "export"]
        print(f"| `<uuid> export`, completed.data emptied | {cpu(argv, env, args.runs)} |")


def _version(task: str) -> str:
    return subprocess.run([task, "--version"], capture_output=True, text=True).stdout.strip()


def import_v2(task: str, v2: Path, root: Path) -> Path:
    """A 3.x store of the same tasks: `task import-v2` of the 2.6 store's files."""
    data = root / "data"
    if (root / "ready").exists():
        return data
    shutil.rmtree(root, ignore_errors=True)
    data.mkdir(parents=True)
    for name in ("pending.data", "completed.data"):
        shutil.copy(v2 / "data" / name, data / name)
    text = (v2 / "taskrc").read_text(encoding="utf-8")
    (root / "taskrc").write_text(text.replace(str(v2 / "data"), str(data)), encoding="utf-8")
    proc = subprocess.run([task, "rc.verbose=nothing", "import-v2"], env=_env(root),
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"import-v2 failed: {proc.stderr[:500]}")
    for name in ("pending.data", "completed.data"):
        (data / name).unlink()
    shutil.copy(v2 / "target", root / "target")
    (root / "ready").touch()
    return data


if __name__ == "__main__":
    main()
