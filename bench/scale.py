"""ttal at scale: years of Taskwarrior history, a fleet, a long message queue.

    .venv/bin/python bench/scale.py [--quick | --tiny] [--tw3 [PATH]] [--json] [--out FILE]

Every row is ttal against a floor measured in the same run: the raw `task`, `git` and `tmux`
calls doing the same external work (as bench/run.py), or ttal itself at the small size.

- spawn, advance, status and send with 25,000 tasks in the store (5,000 pending, 20,000 done;
  built once with `task import` and cached under .bench/stores/; bench/store.py);
- a 50-task fleet taken from pending to merged by the real pipeline and scripted agents,
  at 500 and at 25,000 tasks: the CPU (user + sys) of its whole process tree per task, since
  the machine is shared (bench/fleet.py), against the raw calls of the same lifecycles;
- `ttal send` to a busy manager with 10,000 messages queued, against one with none.

--quick: 5,000 tasks, a 10-task fleet, 2,000 queued, 3 runs (about 2 minutes on 2 cores).
--tiny: a smoke test of the harness (tests/test_bench_smoke.py). The results go into
bench/RESULTS.md's scale section (or --out); the rest of that file is kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import fleet
import store
from harness import (
    RESULTS_MD,
    ROOT,
    Row,
    isolated,
    loadavg,
    machine,
    measure,
    progress,
    table,
    version,
    write_section,
)
from ops import KEEPALIVE, Bench

TW3 = ROOT / ".tools" / "tw3" / "bin" / "task"  # where `make tw3` puts it
BACKLOGGED, CAUGHT_UP = "backlogged", "caughtup"  # busy managers: a long queue, and none
# Run with the sandbox's environment: `n` messages queued for `to` through ttal's own store.
FILL = """import sys
from ttal.engine import mesh
from ttal.engine.app import App
app = App.load()
for i in range(int(sys.argv[2])):
    mesh.post(app, sys.argv[1], f"backlog {i}", key=f"bench-backlog-{i}", sender="bench")
"""


@dataclass(frozen=True)
class Size:
    pending: int  # the big store
    done: int
    small_pending: int  # the small one, for the fleet and spawn at "500"
    small_done: int
    fleet: int  # tasks per fleet
    queue: int  # messages queued for the `send` row
    runs: int  # timed pairs per row
    floor_lifecycles: int  # raw lifecycles timed for the fleet's floor
    poll: float  # seconds between looks at a fleet's tasks
    warmup: bool = True  # one untimed pair before each row's runs

    @property
    def big_tasks(self) -> int:
        return self.pending + self.done

    @property
    def small_tasks(self) -> int:
        return self.small_pending + self.small_done

    @property
    def big(self) -> str:
        return f"{self.big_tasks:,}"

    @property
    def small(self) -> str:
        return f"{self.small_tasks:,}"


SIZES = {
    "full": Size(
        5000, 20000, 100, 400, fleet=50, queue=10000, runs=5, floor_lifecycles=5, poll=2.0
    ),
    "quick": Size(1000, 4000, 100, 400, fleet=10, queue=2000, runs=3, floor_lifecycles=3, poll=1.0),
    "tiny": Size(
        5, 15, 2, 8, fleet=2, queue=20, runs=1, floor_lifecycles=1, poll=0.2, warmup=False
    ),
}


class Scale:
    """The sandboxes of one run, one per store; their agents work on a fleet's tasks and idle
    on the others (bench/fleet.py)."""

    def __init__(self, tmp: Path, size: Size, cache: Path, tw3: Path | None) -> None:
        self.size = size
        small = store.cached(size.small_pending, size.small_done, cache=cache)
        big = store.cached(size.pending, size.done, cache=cache)
        self.small = self._box(tmp, "small", small)
        self.big = self._box(tmp, "big", big)
        self.tw3: Bench | None = None
        if tw3 is not None:
            tw3_store = store.cached(size.pending, size.done, str(tw3), cache=cache)
            self.tw3 = self._box(tmp, "tw3", tw3_store, task_bin=tw3)
        self.all = [b for b in (self.small, self.big, self.tw3) if b is not None]
        self.fleet_wall: dict[str, float] = {}
        self.filled = False

    @staticmethod
    def _box(tmp: Path, name: str, data: Path, task_bin: Path | None = None) -> Bench:
        b = Bench(tmp, name, fleet.WORKER, fleet.REVIEWER, task_bin=task_bin,
                  managers=(BACKLOGGED, CAUGHT_UP))  # fmt: skip
        b.run(b.ttal("doctor", "--fix"))
        b.box.task_data.mkdir(parents=True, exist_ok=True)
        store.install(data, b.box.task_data)
        return b

    # ---- the fleet ------------------------------------------------------------------------
    def fleet_row(self, b: Bench, tasks: int) -> Row:
        n, label = self.size.fleet, f"{tasks:,}"
        row = Row(f"fleet CPU/task, {label} tasks",
                  f"CPU ms per task of a {n}-task fleet, pending to merged (its whole process "
                  f"tree: ttal, hooks, tmux, the scripted agents), vs the raw calls of "
                  f"{self.size.floor_lifecycles} such lifecycles")  # fmt: skip
        row.floor.append(fleet.run_floor(b, self.size.floor_lifecycles, self.all) * 1000)
        # A safety net, not a target: on 2 shared cores a 50-task fleet at 25,000 tasks took
        # over 30 minutes of wall time before issue 14.
        timeout = 300 + n * (10 + 90 * tasks / 25000)
        cpu, wall = fleet.run_fleet(b, n, self.all, timeout, self.size.poll)
        row.ttal.append(cpu * 1000)
        self.fleet_wall[label] = round(wall, 1)
        return row

    # ---- single commands --------------------------------------------------------------------
    def status_pair(self, b: Bench) -> tuple[float, float]:
        ms = b.timed([b.ttal("status")])
        return ms, b.timed([b.task("rc.gc=0", "status:pending", "export", hooks=False)])

    def queued_send_pair(self, b: Bench) -> tuple[float, float]:
        """`ttal send` to a busy manager with the long queue, then to one with none."""
        if not self.filled:  # here, after the rows that kill every session
            self.fill_queue(b)
            self.filled = True
        n = b.next_id()
        ms = b.timed([b.ttal("send", "--to", BACKLOGGED, f"bench queued {n}")])
        return ms, b.timed([b.ttal("send", "--to", CAUGHT_UP, f"bench queued {n}")])

    def fill_queue(self, b: Bench) -> None:
        b.run(b.ttal("up", BACKLOGGED, CAUGHT_UP))
        for name in (BACKLOGGED, CAUGHT_UP):
            b.run(b.ttal("report", "busy", "--agent", name))
        b.run([sys.executable, "-c", FILL, BACKLOGGED, str(self.size.queue)])

    def steps(self) -> list[tuple[Row, Callable[[], tuple[float, float]], int]]:
        s, small, big, runs = self.size, self.small, self.big, self.size.runs
        shape = f"{s.pending:,} pending + {s.done:,} done"
        out: list[tuple[Row, Callable[[], tuple[float, float]], int]] = [
            (Row(f"spawn, {s.small} tasks", "`ttal go <uuid>` on a fresh task, vs bench/run.py's "
                 "floor", max_ratio=2.5), small.spawn_pair, runs),
            (Row(f"spawn, {s.big} tasks", "the same with the big store", max_ratio=2.5),
             big.spawn_pair, runs),
            (Row(f"advance, {s.big} tasks", "a worker's `ttal go`: +coded, review lead, "
                 "+reviewing"), big.advance_pair, runs),
            (Row(f"status, {shape}", "`ttal status` vs one raw `task status:pending export`",
                 max_ratio=1.5), lambda: self.status_pair(big), runs),
            (Row(f"send, {s.big} tasks", "`ttal send` until its text shows in the pane, vs "
                 "`tmux send-keys`"), big.send_pair, runs),
            (Row(f"send, {s.queue:,} queued vs none", "`ttal send` to a busy manager with "
                 f"{s.queue:,} messages queued, vs one with none", max_ratio=1.1),
             lambda: self.queued_send_pair(big), runs * (3 if s.warmup else 1)),
        ]  # fmt: skip
        if self.tw3 is not None:
            tw3 = self.tw3
            out += [
                (Row(f"spawn, {s.big} tasks, Taskwarrior 3", "`ttal go <uuid>` on 3.x",
                     max_ratio=2.5), tw3.spawn_pair, runs),
                (Row(f"status, {shape}, Taskwarrior 3", "`ttal status` vs one raw export, 3.x",
                     max_ratio=1.5), lambda: self.status_pair(tw3), runs),
            ]  # fmt: skip
        return out


def run(size: Size, cache: Path, tw3: Path | None) -> tuple[list[Row], dict[str, float]]:
    progress("stores ...")
    start = time.perf_counter()
    with isolated() as tmp:
        fleet.become_subreaper()  # before any daemon starts: they must stay our descendants
        sc = Scale(tmp, size, cache, tw3)
        progress(f" {time.perf_counter() - start:.1f}s\n")
        rows = []
        for b, tasks in ((sc.small, size.small_tasks), (sc.big, size.big_tasks)):
            progress(f"fleet, {tasks:,} tasks ...")
            start = time.perf_counter()
            rows.append(sc.fleet_row(b, tasks))
            progress(f" {time.perf_counter() - start:.1f}s\n")
        small, big = rows
        rows.append(Row(f"fleet CPU/task, {size.big} vs {size.small}", "the fleet's CPU per "
                        "task with the big store vs with the small one", max_ratio=1.5,
                        ttal=list(big.ttal), floor=list(small.ttal)))  # fmt: skip
        for b in sc.all:
            b.run(b.tmux("new-session", "-d", "-s", KEEPALIVE, "sleep 100000"))
        for row, pair, n in sc.steps():
            progress(f"{row.op} ...")
            start = time.perf_counter()
            rows.append(measure(row, pair, n, size.warmup))
            progress(f" {time.perf_counter() - start:.1f}s\n")
        fleet.settle(sc.all)
        return rows, sc.fleet_wall


def results_md(rows: list[Row], info: dict[str, Any]) -> str:
    notes = "\n".join(f"- **{r.op}**: {r.note}" for r in rows)
    walls = ", ".join(f"{k} tasks {v} s" for k, v in info["fleet_wall_s"].items())
    z = info["size"]
    warmup = z["warmup"]
    warm = " after one warm-up" if warmup else ", no warm-up"
    queued = info["runs"] * (3 if warmup else 1)
    return f"""## Scale (`make bench-scale`, bench/scale.py)

Written on {info["date"]} (`{info["preset"]}`: {z["pending"] + z["done"]:,} tasks,
{z["fleet"]}-task fleets, {z["queue"]:,} queued; {info["total_s"]} s). Medians of
{info["runs"]} runs ({queued} for the queued send){warm}; one fleet per size.
Machine: {info["nproc"]} cores, Taskwarrior {info["task"]}{info["tw3"]}; load average
{info["loadavg"]} at the start, {info["loadavg_end"]} at the end (shared: other work on it
slows both columns). Fleet wall time: {walls}.

```
{table(rows)}
```

{notes}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="5,000 tasks, a 10-task fleet")
    group.add_argument("--tiny", action="store_true", help="a smoke test of the harness")
    parser.add_argument("--runs", type=int, help="timed runs per row (default: by size)")
    parser.add_argument("--fleet", type=int, help="tasks per fleet (default: by size)")
    parser.add_argument("--queue", type=int, help="messages queued (default: by size)")
    parser.add_argument("--tw3", nargs="?", const=str(TW3), metavar="PATH",
                        help=f"also Taskwarrior 3's rows (default {TW3})")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=store.DEFAULT_CACHE,
                        help="where the built stores are kept")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS_MD, help="results file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    # A `kill` ends the run like ^C: the sandbox's servers and temp dir are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    preset = "tiny" if args.tiny else "quick" if args.quick else "full"
    size = SIZES[preset]
    for name in ("runs", "fleet", "queue"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1")
        if value is not None:
            size = replace(size, **{name: value})
    tw3 = Path(args.tw3) if args.tw3 else None
    if tw3 is not None and not os.access(tw3, os.X_OK):
        parser.error(f"--tw3: {tw3} is not an executable file")
    info: dict[str, Any] = {**machine(), "preset": preset, "runs": size.runs,
                            "size": asdict(size)}  # fmt: skip
    info["date"] = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info["tw3"] = f" (and {version([str(tw3), '--version'])})" if tw3 else ""
    start = time.perf_counter()
    rows, walls = run(size, args.cache, tw3)
    info.update(loadavg_end=loadavg(), fleet_wall_s=walls,
                total_s=round(time.perf_counter() - start))  # fmt: skip
    progress(f"total {info['total_s']}s\n")
    write_section(args.out, "scale", results_md(rows, info))
    if args.json:
        print(json.dumps({**info, "results": [r.as_dict() for r in rows]}, indent=2))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
