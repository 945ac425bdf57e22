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
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ttal.adapters import sandbox  # noqa: E402

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
REPO_FILES = 50
HOOK_FACTOR = 3  # the hook row is a difference of two ~10 ms numbers: take more samples
RECIPIENT = "benchmgr"  # a manager whose program is `cat`: the tty shows what is typed
POLL = 0.002  # seconds between capture-pane polls while waiting for text to show
KEEPALIVE = "bench-keepalive"  # keeps the tmux server warm while sessions come and go
IDLE_SCRIPT = "- idle: true\n"  # a script is a list of steps, or `cases:`
UDA_FACTS = {
    "ttal_agent": "coder",
    "ttal_runtime": "scripted-worker",
    "ttal_spawner": "bench",
    "ttal_stage": "implement",
}


@dataclass
class Row:
    op: str
    note: str
    max_ratio: float | None = None  # target: ttal / floor
    max_added_ms: float | None = None  # target: ttal - floor
    max_ms: float | None = None  # target: ttal's median itself
    ttal: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)

    @property
    def ttal_ms(self) -> float:
        return statistics.median(self.ttal)

    @property
    def floor_ms(self) -> float:
        return statistics.median(self.floor)

    @property
    def added_ms(self) -> float:
        return self.ttal_ms - self.floor_ms

    @property
    def ratio(self) -> float:
        return self.ttal_ms / self.floor_ms

    @property
    def target(self) -> str:
        if self.max_ratio is not None:
            return f"<= {self.max_ratio:g}x"
        if self.max_added_ms is not None:
            return f"<= {self.max_added_ms:g} ms added"
        if self.max_ms is not None:
            return f"<= {self.max_ms:g} ms"
        return ""

    def verdict(self) -> str:
        if self.max_ratio is not None:
            return "ok" if self.ratio <= self.max_ratio else "MISS"
        if self.max_added_ms is not None:
            return "ok" if self.added_ms <= self.max_added_ms else "MISS"
        if self.max_ms is not None:
            return "ok" if self.ttal_ms <= self.max_ms else "MISS"
        return ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "ttal_ms": round(self.ttal_ms, 2),
            "floor_ms": round(self.floor_ms, 2),
            "added_ms": round(self.added_ms, 2),
            "ratio": round(self.ratio, 2),
            "ttal_min_ms": round(min(self.ttal), 2),
            "floor_min_ms": round(min(self.floor), 2),
            "target": self.target,
            "verdict": self.verdict(),
            "note": self.note,
            "ttal_samples": [round(x, 2) for x in self.ttal],
            "floor_samples": [round(x, 2) for x in self.floor],
        }


class Bench:
    """A sandbox plus the raw commands and ttal, run with the sandbox's environment."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.box = sandbox.build(
            tmp / "box",
            repos={"api": {f"src/file{i:02d}.txt": f"line {i}\n" for i in range(REPO_FILES)}},
            worker_script=self._script("worker.yaml"),
            reviewer_script=self._script("reviewer.yaml"),
            extra_yaml="limits:\n  max_workers: 1000\n",
            # It prints a line first: `ttal up` waits for a silent program's screen to show
            # something, up to 15 s.
            runtimes_yaml="""bench-cat: {kind: command, command: "sh -c 'echo ready; exec cat'"}""",
            agents_yaml=f"{RECIPIENT}: {{role: manager, runtime: bench-cat}}",
        )
        # Pinned: the tmux server must live under tmp, where the cleanup looks for it.
        self.env = {**self.box.env(), "TMUX_TMPDIR": os.environ["TMUX_TMPDIR"]}
        self.repo = self.box.repos["api"]
        script = Path(sys.executable).parent / "ttal"
        self.ttal_argv = [str(script)] if script.exists() else [sys.executable, "-m", "ttal"]
        self.counter = 0
        self.cold_env = {**self.env, "TTAL_SERVER": "off"}

    def _script(self, name: str) -> Path:
        path = self.tmp / name
        path.write_text(IDLE_SCRIPT, encoding="utf-8")
        return path

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    # ---- running things --------------------------------------------------------------------
    def run(self, argv: list[str], env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            argv,
            env=env or self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{argv} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def timed(self, argvs: list[list[str]], env: dict[str, str] | None = None) -> float:
        """Milliseconds to run the commands one after another (each must succeed)."""
        start = time.perf_counter()
        for argv in argvs:
            self.run(argv, env)
        return (time.perf_counter() - start) * 1000

    def ttal(self, *args: str) -> list[str]:
        return [*self.ttal_argv, *args]

    def task(self, *args: str, hooks: bool = True) -> list[str]:
        argv = ["task", "rc.confirmation=no", "rc.verbose=nothing"]
        return argv + ([] if hooks else ["rc.hooks=off"]) + list(args)

    def git(self, path: Path, *args: str) -> list[str]:
        return ["git", "-C", str(path), *args]

    def tmux(self, *args: str) -> list[str]:
        return ["tmux", "-L", self.box.socket, *args]

    # ---- fixtures (untimed) ----------------------------------------------------------------
    def add_task(self, description: str) -> str:
        out = self.run(self.task("rc.verbose=new-uuid", "add", description, "project:api"))
        return out.split("Created task ")[1].split(".")[0].strip()

    def get(self, uuid: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = json.loads(
            self.run(self.task(uuid, "export", "rc.json.array=on"))
        )
        return data[0]

    def sessions(self) -> list[str]:
        proc = subprocess.run(
            self.tmux("list-sessions", "-F", "#{session_name}"),
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.split()

    def kill_sessions(self) -> None:
        for name in self.sessions():
            if name != KEEPALIVE:
                subprocess.run(
                    self.tmux("kill-session", "-t", f"={name}"),
                    env=self.env,
                    capture_output=True,
                    check=False,
                )

    def wait_idle(self, session: str, timeout: float = 15) -> None:
        """Wait until the scripted agent in `session` has started, told ttal it is idle (when
        it reports at all) and idles, so it does not compete with the timed command."""
        log = self.box.state_dir / "run" / f"{session}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = subprocess.run(
                self.tmux("capture-pane", "-p", "-t", f"={session}:"),
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
            logged = log.read_text(encoding="utf-8") if log.exists() else ""
            reports = "reported busy" in logged
            if "[scripted] idle" in proc.stdout and (not reports or "reported idle" in logged):
                return
            time.sleep(0.05)
        raise RuntimeError(f"agent in {session} did not reach idle in {timeout}s")

    def commit(self, worktree: Path, n: int) -> None:
        (worktree / f"work{n}.txt").write_text(f"work {n}\n", encoding="utf-8")
        self.run(self.git(worktree, "add", "-A"))
        self.run(self.git(worktree, "commit", "-qm", f"work {n}"))

    def floor_worktree(self, n: int) -> tuple[str, Path]:
        return f"floor/{n}", self.box.root / "floor-wt" / f"b{n}"

    # ---- operations: each returns (ttal ms, floor ms) for one alternated pair ---------------
    def spawn_pair(self, cold: bool = False) -> tuple[float, float]:
        """cold: with TTAL_SERVER=off, as the first command after the server left."""
        n = self.next_id()
        uuid = self.add_task(f"bench spawn {n}")
        ms = self.timed([self.ttal("go", uuid)], env=self.cold_env if cold else None)
        expect(self.get(uuid).get("ttal_session") == f"w-{uuid[:8]}", "ttal go did not spawn")
        self.kill_sessions()

        n = self.next_id()
        uuid = self.add_task(f"floor spawn {n}")
        branch, path = self.floor_worktree(n)
        facts = {
            "ttal_branch": branch,
            "ttal_worktree": str(path),
            **UDA_FACTS,
            "ttal_session": f"fw-{n}",
        }
        floor = self.timed(
            [
                self.task(uuid, "modify", *(f"{k}:{v}" for k, v in facts.items()), hooks=False),
                self.task(uuid, "start", hooks=False),
                self.git(self.repo, "worktree", "add", "-q", "-b", branch, str(path), "main"),
                self.tmux("new-session", "-d", "-s", f"fw-{n}", "-c", str(path), "sleep 100"),
            ]
        )
        self.kill_sessions()
        return ms, floor

    def advance_pair(self) -> tuple[float, float]:
        n = self.next_id()
        uuid = self.add_task(f"bench advance {n}")
        self.run(self.ttal("go", uuid))
        worker = f"w-{uuid[:8]}"
        self.wait_idle(worker)
        self.commit(Path(self.get(uuid)["ttal_worktree"]), n)
        env = {**self.env, "TTAL_AGENT": worker, "TTAL_ROLE": "worker", "TTAL_TASK": uuid}
        ms = self.timed([self.ttal("go")], env=env)
        tags = set(self.get(uuid).get("tags", []))
        expect({"coded", "reviewing"} <= tags, f"a worker's ttal go did not advance: {tags}")
        self.kill_sessions()

        n = self.next_id()
        uuid = self.add_task(f"floor advance {n}")
        branch, path = self.floor_worktree(n)
        self.run(self.git(self.repo, "worktree", "add", "-q", "-b", branch, str(path), "main"))
        self.commit(path, n)
        review = (f"ttal_reviewer:fr-{n}", "ttal_review:reviewing", "ttal_round:1", "+reviewing")
        floor = self.timed(
            [
                self.git(path, "status", "--porcelain", "--untracked-files=all"),
                self.git(path, "rev-list", "--count", "main..HEAD"),
                self.task(uuid, "modify", "+coded", hooks=False),
                self.tmux("new-session", "-d", "-s", f"fr-{n}", "-c", str(path), "sleep 100"),
                self.task(uuid, "modify", *review, hooks=False),
            ]
        )
        self.kill_sessions()
        return ms, floor

    def hook_pair(self, uuid: str, change: str = "tag") -> tuple[float, float]:
        """One `task modify` with ttal's hooks and one without: a new tag, or (change="uda")
        a value that leaves the tags alone."""
        n = self.next_id()
        edit = [f"+x{n}"] if change == "tag" else [f"ttal_stage:bench{n}"]
        with_hook = self.timed([self.task(uuid, "modify", *edit)])
        edit = [f"+y{n}"] if change == "tag" else [f"ttal_stage:floor{n}"]
        without = self.timed([self.task(uuid, "modify", *edit, hooks=False)])
        return with_hook, without

    def pipeline_task(self) -> str:
        """A task in the pipeline (+coded), set up without the hooks that would refuse it."""
        uuid = self.add_task("bench hook in the pipeline")
        self.run(self.task(uuid, "modify", "+coded", hooks=False))
        return uuid

    def status_pair(self) -> tuple[float, float]:
        ms = self.timed([self.ttal("status")])
        floor = self.timed(
            [
                self.task("status:pending", "export", hooks=False),
                self.task(
                    "status:completed",
                    "ttal_branch.any:",
                    "end.after:now-1d",
                    "export",
                    hooks=False,
                ),
                self.tmux("list-sessions", "-F", "#{session_name}"),
            ]
        )
        return ms, floor

    def visible_ms(self, start: float, marker: str, pane: str) -> float:
        """Milliseconds from `start` until `marker` shows in `pane` (polled with capture-pane)."""
        deadline = start + 10
        while time.perf_counter() < deadline:
            screen = subprocess.run(self.tmux("capture-pane", "-p", "-t", pane), env=self.env,
                                    capture_output=True, text=True, check=False)  # fmt: skip
            if marker in screen.stdout:
                return (time.perf_counter() - start) * 1000
            time.sleep(POLL)
        raise RuntimeError(f"bench: {marker!r} never showed in {pane}")

    def send_pair(self, cold: bool = False) -> tuple[float, float]:
        """`ttal send` starting until its text shows in the recipient's pane, against
        `tmux send-keys -l` + Enter, polled the same way."""
        self.run(self.ttal("up", RECIPIENT))  # untimed; other rows kill every session
        self.run(self.tmux("clear-history", "-t", f"={RECIPIENT}:"))
        marker = f"bench message {self.next_id()} end"
        start = time.perf_counter()
        env = self.cold_env if cold else self.env
        proc = subprocess.Popen(self.ttal("send", "--to", RECIPIENT, marker), env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip
        ms = self.visible_ms(start, marker, f"={RECIPIENT}:")
        expect(proc.wait(timeout=30) == 0, "ttal send failed")
        marker = f"floor message {self.next_id()} end"
        start = time.perf_counter()
        self.run(self.tmux("send-keys", "-t", f"={RECIPIENT}:", "-l", marker))
        self.run(self.tmux("send-keys", "-t", f"={RECIPIENT}:", "Enter"))
        return ms, self.visible_ms(start, marker, f"={RECIPIENT}:")

    def python_pair(self) -> tuple[float, float]:
        """Reference: interpreter start-up alone, and with ttal's CLI imported."""
        ms = self.timed([[sys.executable, "-c", "import ttal.cli.app"]])
        floor = self.timed([[sys.executable, "-c", "pass"]])
        return ms, floor


def expect(ok: bool, problem: str) -> None:
    if not ok:
        raise RuntimeError(f"bench: {problem}")


def measure(row: Row, pair: Callable[[], tuple[float, float]], runs: int) -> Row:
    pair()  # warm-up: caches, the tmux server, lazy files
    for _ in range(runs):
        ms, floor = pair()
        row.ttal.append(ms)
        row.floor.append(floor)
    return row


def progress(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return "missing"
    return out.strip().splitlines()[0] if out.strip() else "?"


def machine() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "task": version(["task", "--version"]),
        "git": version(["git", "--version"]).removeprefix("git version "),
        "tmux": version(["tmux", "-V"]).removeprefix("tmux "),
        "loadavg": " ".join(f"{x:.2f}" for x in load),
    }


@contextmanager
def isolated() -> Iterator[Path]:
    """A temp dir holding HOME and TMUX_TMPDIR; removed, with its tmux servers, at the end."""
    tmp = Path(tempfile.mkdtemp(prefix="ttal-bench-"))
    saved = dict(os.environ)
    home, tmux_tmp = tmp / "home", tmp / "tmux"
    home.mkdir()
    tmux_tmp.mkdir()
    drop = [k for k in os.environ if k.startswith(("TTAL_", "TMUX"))]
    for key in [*drop, "TASKDATA", "PYTHONDONTWRITEBYTECODE"]:
        os.environ.pop(key, None)
    os.environ.update(
        # Measure the steady state, with bytecode cached, as on a user's machine; the cache
        # lives in tmp so the run writes nothing into the checkout.
        PYTHONPYCACHEPREFIX=str(tmp / "pycache"),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        TMUX_TMPDIR=str(tmux_tmp),
        TASKRC=str(home / "no-taskrc"),
    )
    try:
        yield tmp
    finally:
        for sock in tmux_tmp.glob("tmux-*/*"):
            subprocess.run(
                ["tmux", "-S", str(sock), "kill-server"], capture_output=True, check=False
            )
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


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


def table(rows: list[Row]) -> str:
    lines = [
        f"{'operation':<30}{'ttal (ms)':>11}{'floor (ms)':>12}{'added':>9}{'ratio':>8}   target"
    ]
    for r in rows:
        target = f"{r.target} {r.verdict()}".strip()
        lines.append(
            f"{r.op:<30}{r.ttal_ms:>11.1f}{r.floor_ms:>12.1f}{r.added_ms:>9.1f}"
            f"{r.ratio:>7.1f}x   {target}"
        )
    return "\n".join(lines)


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
    RESULTS_MD.write_text(results_md(rows, info, args.runs, when), encoding="utf-8")
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
