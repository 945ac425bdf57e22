"""ttal's speed against the physical floor, measured in the same run.

    .venv/bin/python bench/run.py [--runs N] [--json]

For each operation it times ttal doing it (as a subprocess, the way a person or an agent
runs it) and the raw `task`, `git` and `tmux` commands doing the same external work, and
prints the medians and their ratio. Everything happens in a throwaway sandbox under a temp
dir, with HOME and TMUX_TMPDIR pointed there and a private tmux socket, all removed at the
end. The latest results are also written to bench/RESULTS.md.

ttal runs as it does for a user: the first command starts the warm server (ttal/warm/server.py)
and the rest are served by it; the "no server" rows show a cold start (TTAL_SERVER=off).

Floors run Taskwarrior with `rc.hooks=off`: ttal's on-modify hook is ttal's own cost, and
the `hook` row measures it on its own. ttal and floor iterations alternate, so drift in the
machine's load hits both alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable

from harness import RESULTS_MD, Row, isolated, machine, measure, progress, table, write_section
from ops import KEEPALIVE, Bench

HOOK_FACTOR = 3  # the hook row is a difference of two ~10 ms numbers: take more samples


def bench(runs: int) -> list[Row]:
    with isolated() as tmp:
        b = Bench(tmp)
        b.run(b.ttal("doctor", "--fix"))
        b.run(b.tmux("new-session", "-d", "-s", KEEPALIVE, "sleep 100000"))
        hook_task = b.add_task("bench hook")
        piped = b.pipeline_task()
        steps: list[tuple[Row, Callable[[], tuple[float, float]], int]] = [
            (
                Row("spawn", "`ttal go <uuid>` on a fresh task", max_ratio=3),
                b.spawn_pair,
                runs,
            ),
            (
                Row("advance", "a worker's `ttal go`: +coded, review lead, +reviewing"),
                b.advance_pair,
                runs,
            ),
            (
                Row(
                    "hook",
                    "`task modify +tag` on a task outside the pipeline, ttal's hooks vs "
                    "`rc.hooks=off`",
                    max_added_ms=15,
                ),
                lambda: b.hook_pair(hook_task),
                runs * HOOK_FACTOR,
            ),
            (
                Row(
                    "hook, +coded task, tags kept",
                    "`task modify` of a UDA on a task in the pipeline (sh decides)",
                    max_added_ms=15,
                ),
                lambda: b.hook_pair(piped, change="uda"),
                runs * HOOK_FACTOR,
            ),
            (
                Row(
                    "hook, +coded task, +tag",
                    "`task modify +tag` on a task in the pipeline (Python decides)",
                    max_added_ms=15,
                ),
                lambda: b.hook_pair(piped),
                runs * HOOK_FACTOR,
            ),
            (
                Row("status", "`ttal status` vs its two exports and a list-sessions"),
                b.status_pair,
                runs,
            ),
            (
                Row(
                    "send",
                    "`ttal send` until its text shows in the recipient's pane, vs "
                    "`tmux send-keys -l` + Enter until it shows",
                    max_ms=100,
                ),
                b.send_pair,
                runs,
            ),
            (
                Row("spawn, no server", "`ttal go <uuid>` with TTAL_SERVER=off (a cold start)"),
                lambda: b.spawn_pair(cold=True),
                runs,
            ),
            (
                Row("send, no server", "`ttal send` with TTAL_SERVER=off (a cold start)"),
                lambda: b.send_pair(cold=True),
                runs,
            ),
            (
                Row("cli import", "reference: `python -c 'import ttal.cli.app'` vs `-c pass`"),
                b.python_pair,
                runs,
            ),
        ]
        rows = []
        for row, pair, n in steps:
            progress(f"{row.op} ...")
            start = time.perf_counter()
            rows.append(measure(row, pair, n))
            progress(f" {time.perf_counter() - start:.1f}s\n")
        return rows


def results_md(rows: list[Row], info: dict[str, str], runs: int, when: str) -> str:
    notes = "\n".join(f"- **{r.op}**: {r.note}" for r in rows)
    return f"""# Benchmark results

Written by `make bench` (`bench/run.py`) on {when}. Medians of {runs} runs
({runs * HOOK_FACTOR} for the hook row), after one warm-up; ttal and floor alternate.
The floor is the raw `task`/`git`/`tmux` commands doing the same external work in the
same run (Taskwarrior with `rc.hooks=off`); `added` = ttal − floor.

Machine: {info["nproc"]} cores, {info["os"]}, Python {info["python"]}, Taskwarrior
{info["task"]}, git {info["git"]}, tmux {info["tmux"]}; load average {info["loadavg"]} at the
start, {info["loadavg_end"]} at the end (other work on the machine inflates both columns).

```
{table(rows)}
```

{notes}

Re-run `make bench` before you rely on a number: on a small VM runs differ by about 20%.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per operation")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    info = machine()
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    start = time.perf_counter()
    rows = bench(args.runs)
    info["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    progress(f"total {time.perf_counter() - start:.1f}s\n")
    write_section(RESULTS_MD, "", results_md(rows, info, args.runs, when))
    if args.json:
        doc = {
            "date": when,
            "runs": args.runs,
            "machine": info,
            "results": [r.as_dict() for r in rows],
        }
        print(json.dumps(doc, indent=2))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
