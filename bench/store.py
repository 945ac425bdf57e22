"""Big Taskwarrior stores for bench/scale.py: years of one person's history, built once with
`task import` and cached under .bench/stores/ (keyed by shape, Taskwarrior version and
SHAPE), then copied into each sandbox.

A store holds `pending` tasks of the person's own projects (not ttal's) and `done` completed
ones; a tenth of those are old ttal tasks in the sandbox's project `api`, with ttal's UDAs,
finished weeks ago, as a year of ttal leaves them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import subprocess
import tempfile
import uuid as uuidlib
from pathlib import Path
from typing import Any

from harness import ROOT, version

from ttal.adapters.taskwarrior import UDAS

SHAPE = 1  # bump when the rows below change: a cached store of the old shape is rebuilt
DEFAULT_CACHE = ROOT / ".bench" / "stores"
PROJECTS = ("home", "errands", "reading", "work.admin", "work.ops", "garden")
WORDS = ["call", "fix", "buy", "read", "plan", "write", "check", "renew", "book", "clean",
         "pay", "review", "sort", "order"]  # fmt: skip
STAMP = "%Y%m%dT%H%M%SZ"


def rows(pending: int, done: int, now: dt.datetime) -> list[dict[str, Any]]:
    """The tasks, oldest first: entries spread over three years up to two days ago."""
    rng = random.Random(f"{pending}/{done}")
    total = pending + done
    still_open = set(rng.sample(range(total), pending))
    first, last = now - dt.timedelta(days=3 * 365), now - dt.timedelta(days=2)
    step = (last - first) / max(total, 1)
    out = []
    for i in range(total):
        entry = first + step * i
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        row: dict[str, Any] = {
            "uuid": str(uuidlib.UUID(int=rng.getrandbits(128), version=4)),
            "description": f"{words} {i}",
            "entry": entry.strftime(STAMP),
            "modified": entry.strftime(STAMP),
            "project": rng.choice(PROJECTS),
            "status": "pending",
        }
        if rng.random() < 0.4:
            row["tags"] = rng.sample(["next", "phone", "waiting", "someday", "bills"], 2)
        if rng.random() < 0.2:
            row["annotations"] = [{"entry": entry.strftime(STAMP), "description": words}]
        if i not in still_open:
            end = min(entry + dt.timedelta(hours=rng.randint(1, 300)), last)
            row.update(status="completed", end=end.strftime(STAMP), modified=end.strftime(STAMP))
            if rng.random() < 0.1:  # an old ttal task: merged, cleaned up
                short = row["uuid"][:8]
                row.update(project="api", tags=["coded", "reviewing", "lgtm", "merged"],
                           ttal_branch=f"ttal/{short}", ttal_agent="coder", ttal_round=1,
                           ttal_session=f"w-{short}", ttal_review="approved")  # fmt: skip
        out.append(row)
    return out


def cached(pending: int, done: int, task_bin: str = "task", cache: Path = DEFAULT_CACHE) -> Path:
    """The directory holding the store's data files (its `data/`): built now unless cached.
    A 3.x store is the 2.6 one converted with `task import-v2` when a 2.x `task` is on PATH:
    3.x's own `task import` of 25,000 tasks takes over an hour on a small VM, import-v2 about
    a minute."""
    tw = version([task_bin, "--version"])
    where = cache / f"tw{tw}-{pending}p-{done}d-s{SHAPE}"
    if (where / "COMPLETE").exists():
        return where
    convert = not tw.startswith("2.") and version(["task", "--version"]).startswith("2.")
    v2 = cached(pending, done, "task", cache) if convert else None
    cache.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="store-", dir=cache))
    try:
        (build / "data").mkdir()
        if v2 is None:
            _import(build, pending, done, task_bin)
        else:
            _convert(build, v2, task_bin)
        _check(build, pending, task_bin)
        (build / "COMPLETE").write_text(f"{pending} pending, {done} done\n", encoding="utf-8")
        shutil.rmtree(where, ignore_errors=True)  # a half-built one from a killed run
        os.replace(build, where)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return where


def _taskrc(into: Path) -> dict[str, str]:
    rc = into / "taskrc"
    udas = "".join(f"uda.{n}.type={t}\nuda.{n}.label={label}\n" for n, (t, label) in UDAS.items())
    rc.write_text(f"data.location={into / 'data'}\n{udas}", encoding="utf-8")
    return {**os.environ, "TASKRC": str(rc)}


def _task(task_bin: str, into: Path, *args: str) -> str:
    argv = [task_bin, "rc.hooks=off", "rc.verbose=nothing", "rc.confirmation=no", *args]
    return subprocess.run(argv, env=_taskrc(into), capture_output=True, text=True, check=True,
                          stdin=subprocess.DEVNULL, timeout=1800).stdout  # fmt: skip


def _import(into: Path, pending: int, done: int, task_bin: str) -> None:
    batch = into / "tasks.json"
    batch.write_text(json.dumps(rows(pending, done, dt.datetime.now(dt.UTC))), encoding="utf-8")
    _task(task_bin, into, "import", str(batch))
    batch.unlink()


def _convert(into: Path, v2: Path, task_bin: str) -> None:
    for path in (v2 / "data").iterdir():
        shutil.copy2(path, into / "data" / path.name)
    _task(task_bin, into, "import-v2")
    for path in (into / "data").glob("*.data"):
        path.unlink()


def _check(into: Path, pending: int, task_bin: str) -> None:
    counted = _task(task_bin, into, "status:pending", "count").strip()
    if counted != str(pending):
        raise RuntimeError(f"bench: the store has {counted} pending tasks, not {pending}")
    (into / "taskrc").unlink()


def install(store: Path, data: Path) -> None:
    """Put the cached store's files into a sandbox's Taskwarrior data dir, in place of its
    own (its hooks stay)."""
    for old in data.iterdir():
        if old.is_file():
            old.unlink()
    for path in (store / "data").iterdir():
        if path.is_file():
            shutil.copy2(path, data / path.name)
