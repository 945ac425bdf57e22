"""What bench/run.py and bench/scale.py share: a result row, the sandbox's process
environment, the machine's description and the table they print."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
sys.path.insert(0, str(ROOT))  # the checkout's ttal, for the modules that import it


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


def expect(ok: bool, problem: str) -> None:
    if not ok:
        raise RuntimeError(f"bench: {problem}")


def measure(
    row: Row, pair: Callable[[], tuple[float, float]], runs: int, warmup: bool = True
) -> Row:
    if warmup:
        pair()  # caches, the tmux server, lazy files
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


def table(rows: list[Row]) -> str:
    width = max([30, *(len(r.op) + 2 for r in rows)])
    head = f"{'ttal (ms)':>11}{'floor (ms)':>12}{'added':>9}{'ratio':>8}   target"
    lines = [f"{'operation':<{width}}{head}"]
    for r in rows:
        target = f"{r.target} {r.verdict()}".strip()
        lines.append(
            f"{r.op:<{width}}{r.ttal_ms:>11.1f}{r.floor_ms:>12.1f}{r.added_ms:>9.1f}"
            f"{r.ratio:>7.2f}x   {target}"
        )
    return "\n".join(lines)


def write_section(path: Path, name: str, text: str) -> None:
    """Write `text` as one section of a results file, keeping the others: "" is the part
    before the first named section (bench/run.py's); a named one sits between
    `<!-- begin NAME -->` and `<!-- end NAME -->` (appended when missing)."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if not name:
        cut = old.find("<!-- begin ")
        new = text if cut < 0 else text.rstrip("\n") + "\n\n" + old[cut:]
    else:
        begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
        block = f"{begin}\n{text.strip()}\n{end}"
        start, stop = old.find(begin), old.find(end)
        if start >= 0 and stop > start:
            new = old[:start] + block + old[stop + len(end) :]
        else:
            new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new, encoding="utf-8")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def children_cpu() -> float:
    """Seconds of CPU (user + sys) used by every child process reaped so far, and by theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_run(argv: list[str], env: dict[str, str], timeout: float = 120) -> tuple[str, float]:
    """Run a command (it must succeed): its stdout, and the CPU seconds it and its own children
    used. Single-threaded callers only: the difference counts whatever else was reaped meanwhile."""
    before = children_cpu()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, timeout=timeout)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout, children_cpu() - before
