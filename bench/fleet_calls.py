"""Where a fleet's `task` calls come from: bench/fleet.py's fleet (N tasks from pending to
merged by the real pipeline and scripted agents) on bench/scale.py's big store, with a `task`
wrapper first on PATH that logs each call (its arguments, the process that made it, the
caller's TTAL_TRACE if set, the CPU it used), then a tally per fleet task by source.

    .venv/bin/python bench/fleet_calls.py [--fleet 10] [--pending 5000 --done 20000]
        [--no-wrapper] [--runs 1] [--log FILE]

--no-wrapper runs the fleet without the wrapper (its CPU per task only, as bench/scale.py
measures it). TTAL_TRACE comes from a measuring patch of Taskwarrior._env (not in ttal):
without it the source is the calling process's command line and TTAL_AGENT. The patch, at the
end of _env (run the bench with PYTHONPATH naming the patched copy):

    if os.environ.get("TTAL_TRACE_TASK"):
        import sys, traceback
        fr = [f"{Path(f.filename).stem}.{f.name}" for f in traceback.extract_stack()[:-1]
              if "/ttal/" in f.filename]
        env["TTAL_TRACE"] = " ".join(sys.argv[1:4]) + " | " + " > ".join(fr[-7:])
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import fleet
import store
from harness import isolated, loadavg, progress
from ops import Bench
from scale import Scale

WRAPPER = """#!/bin/sh
# Log this call (who made it, its CPU, its arguments), then run the real task.
who=$(tr '\\0' ' ' < /proc/$PPID/cmdline 2>/dev/null)
{real} "$@"
rc=$?
times > {log}.t.$$
{{ read a; read b; }} < {log}.t.$$
rm -f {log}.t.$$
printf '%s\\037%s\\037%s\\037%s\\037%s\\n' "${{TTAL_AGENT:-person}}" "$who" \\
  "${{TTAL_TRACE:-}}" "$b" "$*" >> {log}
exit $rc
"""
CHEAP = ("_show", "_get", "_version", "_uuids", "_ids", "--version")


def install_wrapper(env: dict[str, str], folder: Path, log: Path) -> None:
    real = os.popen("command -v task").read().strip()  # the bench's own PATH
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "task"
    wrapper.write_text(WRAPPER.format(real=real, log=log), encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
    env["TTAL_TRACE_TASK"] = "1"


def _cpu(times: str) -> float:
    """`times`'s children line ("0m0.23s 0m0.01s"): seconds."""
    total = 0.0
    for m in re.finditer(r"(\d+)m([\d.]+)s", times):
        total += int(m.group(1)) * 60 + float(m.group(2))
    return total


def _args(args: str) -> str:
    words = [a for a in args.split(" ") if not a.startswith("rc.")]
    words = [re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<uuid>", w) for w in words]
    words = [re.sub(r":[^ ]*[/0-9][^ ]*$", ":…", w) if ":" in w else w for w in words]
    if "add" in words:
        words = [*words[: words.index("add") + 1], "<description>"]
    words = [re.sub(r"\b[0-9a-f]{8}\b", "<short>", w) for w in words]
    return " ".join(words)[:90]


def tally(log: Path, n: int) -> str:
    rows = [line.split("\x1f", 4) for line in log.read_text(encoding="utf-8").splitlines()]
    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    kinds: Counter[str] = Counter()
    for agent, who, trace, times, args in rows:
        cmd, _, frames = trace.partition(" | ")
        cmd = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<uuid>", cmd)
        if not trace:
            src = "bench" if "fleet_calls" in who else f"{agent}: {who[-60:]}"
        else:
            role = agent.split("-")[0] if agent != "person" else "person"
            src = f"{role}: ttal {cmd.split(' -')[0]} | {frames.split(' > ')[-1]}"
        cheap = any(a in CHEAP for a in args.split(" "))
        kinds["cheap" if cheap else "full"] += 1
        by[(src, _args(args))].append(_cpu(times))
    out = [f"{len(rows)} task calls for {n} fleet tasks ({kinds['full']} full-store, "
           f"{kinds['cheap']} cheap)", f"{'per task':>8} {'cpu ms':>7}  source / call"]  # fmt: skip
    for (src, args), cpus in sorted(by.items(), key=lambda kv: -len(kv[1])):
        out.append(f"{len(cpus) / n:8.2f} {1000 * sum(cpus) / len(cpus):7.0f}  {src}\n"
                   f"{'':17}task {args}")  # fmt: skip
    return "\n".join(out)


def _watch(b: Bench, every: float, stop: threading.Event) -> None:
    """`ttal watch --once` every `every` seconds until `stop` (as a cron job would run it)."""
    while not stop.wait(every):
        subprocess.run(b.ttal("watch", "--once"), env=b.env, capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=int, default=10)
    parser.add_argument("--pending", type=int, default=5000)
    parser.add_argument("--done", type=int, default=20000)
    parser.add_argument("--no-wrapper", action="store_true")
    parser.add_argument("--runs", type=int, default=1, help="fleets, one after another")
    parser.add_argument("--log", type=Path, help="keep the call log here")
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument(
        "--watch",
        type=float,
        default=0,
        help="also run `ttal watch --once` every this many seconds",
    )
    args = parser.parse_args()
    with isolated() as tmp:
        fleet.become_subreaper()
        data = store.cached(args.pending, args.done)
        b = Scale._box(tmp, "big", data)
        log = args.log or tmp / "task-calls.log"
        if not args.no_wrapper:
            install_wrapper(b.env, tmp / "counted-bin", log)
        for run in range(args.runs):
            progress(f"fleet {run + 1}/{args.runs}, load {loadavg()} ...")
            start = time.perf_counter()
            stop = threading.Event()
            watcher = threading.Thread(target=_watch, args=(b, args.watch, stop), daemon=True)
            if args.watch:
                watcher.start()
            try:
                cpu, wall = fleet.run_fleet(b, args.fleet, [b], 300 + args.fleet * 100, args.poll)
            finally:
                stop.set()
                if args.watch:
                    watcher.join()
            progress(f" {time.perf_counter() - start:.0f}s\n")
            print(f"CPU per task {cpu * 1000:.0f} ms, wall {wall:.0f} s")
        if not args.no_wrapper:
            print(tally(log, args.fleet * args.runs))
        fleet.settle([b])
    return 0


if __name__ == "__main__":
    sys.exit(main())
