"""A fleet for bench/scale.py: N tasks taken from pending to merged by the real pipeline
(`ttal go`, scripted agents in tmux, review, merge, cleanup), and the CPU its whole process
tree used per task, against the raw `task`, `git` and `tmux` calls of the same lifecycles.

CPU, not wall time: the machine is shared. This process becomes a child subreaper, so the
daemons the fleet starts (the tmux server and its agents, ttal's warm server and its
children) stay its descendants; after the fleet they are stopped and reaped, and their CPU
(user + sys) shows in getrusage(RUSAGE_CHILDREN). The bench's own polls are subtracted.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

from harness import children_cpu, cpu_run
from ops import UDA_FACTS, Bench

PR_SET_CHILD_SUBREAPER = 36
# The agents of a fleet task ("fleet task N"): the worker writes a file, commits and runs
# `ttal go`; the review lead approves. On any other task they idle (bench/ops.py's rows).
WORKER = """\
cases:
  - match: "^fleet task "
    steps:
      - write: {path: "notes/{short}.md", text: "# {description}\\n"}
      - sh: "git add -A && git commit -qm 'fleet {short}'"
      - ttal: [go]
      - idle: true
  - steps:
      - idle: true
"""
REVIEWER = """\
cases:
  - match: "^fleet task "
    steps:
      - ttal: [review, approve, --note, "fine"]
      - idle: true
  - steps:
      - idle: true
"""


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "bench: prctl(PR_SET_CHILD_SUBREAPER) failed")


def live_children() -> dict[int, str]:
    """Our children still running (zombies aside), by pid: their command lines."""
    me, found = os.getpid(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == me and state != "Z":
            found[int(entry.name)] = cmd
    return found


def settle(benches: list[Bench], timeout: float = 30) -> float:
    """Stop every sandbox's tmux server and ttal's warm servers (they are our children: we
    are their subreaper) and reap everything they leave, so RUSAGE_CHILDREN holds all the
    CPU spent so far. Returns the CPU the stopping used."""
    before = children_cpu()
    for b in benches:
        subprocess.run(b.tmux("kill-server"), env=b.env, capture_output=True, check=False)
    used = children_cpu() - before  # those commands only: nothing else was reaped yet
    for pid, cmd in live_children().items():
        if "ttal.serve" in cmd:  # what `ttal server stop` does, without a Python start
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return used  # no child left at all
        if pid:
            continue
        if time.monotonic() > deadline:
            left = "\n".join(f"{p} {c[:150]}" for p, c in live_children().items())
            raise RuntimeError(f"bench: processes outlived their sandbox's servers:\n{left}")
        time.sleep(0.02)


def run_fleet(
    b: Bench, n: int, others: list[Bench], timeout: float, poll: float = 1.0
) -> tuple[float, float]:
    """CPU seconds per task and wall seconds for `n` tasks from pending to merged; `poll`:
    seconds between looks at the tasks (each costs a `task` call, not counted)."""
    uuids = [b.add_task(f"fleet task {b.next_id()}") for _ in range(n)]
    settle([b, *others])
    start_cpu, start = children_cpu(), time.monotonic()
    for uuid in uuids:  # each may wait its turn behind the agents' own `ttal go`
        b.run(b.ttal("go", uuid), timeout=timeout)
    polls, left = 0.0, list(uuids)
    while left:
        time.sleep(poll)
        out, cpu = cpu_run(b.task("rc.gc=0", "status:pending", *left, "_uuids", hooks=False),
                           b.env)  # fmt: skip
        polls += cpu
        left = out.split()
        if left and time.monotonic() - start > timeout:
            raise RuntimeError(f"bench: {len(left)} of {n} fleet tasks not merged in {timeout:.0f}s"
                               f"\n{_status(b)}")  # fmt: skip
    polls += _wait_cleaned(b, timeout=30)
    wall = time.monotonic() - start
    polls += settle([b, *others])
    return (children_cpu() - start_cpu - polls) / n, wall


def _wait_cleaned(b: Bench, timeout: float) -> float:
    """Wait until the agents' sessions are gone (ttal cleans up after the merge); the CPU
    the waiting itself used."""
    used, deadline = 0.0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = children_cpu()
        left = [s for s in b.sessions() if s.startswith(("w-", "r-"))]
        used += children_cpu() - before
        if not left:
            return used
        time.sleep(0.2)
    raise RuntimeError(f"bench: sessions left after the merges: {left}")


def _status(b: Bench) -> str:
    proc = subprocess.run(b.ttal("status"), env=b.env, capture_output=True, text=True)
    return proc.stdout[-3000:] + proc.stderr[-2000:]


def run_floor(b: Bench, n: int, others: list[Bench]) -> float:
    """CPU seconds per lifecycle of the raw calls that do a fleet task's external work:
    Taskwarrior (hooks off) records the spawn, +coded, the review, the approval and the
    merge; git makes the worktree, commits (the agent's part), merges and cleans up; tmux
    starts and ends the two sessions."""
    uuids = [b.add_task(f"floor fleet task {b.next_id()}") for _ in range(n)]
    settle([b, *others])
    start_cpu = children_cpu()
    for uuid in uuids:
        _floor_lifecycle(b, uuid, b.next_id())
    stopping = settle([b, *others])
    return (children_cpu() - start_cpu - stopping) / n


def _floor_lifecycle(b: Bench, uuid: str, n: int) -> None:
    branch, path = b.floor_worktree(n)
    worker, reviewer = f"fw-{n}", f"fr-{n}"
    facts = {"ttal_branch": branch, "ttal_worktree": str(path), **UDA_FACTS,
             "ttal_session": worker}  # fmt: skip
    review = (f"ttal_reviewer:{reviewer}", "ttal_review:reviewing", "ttal_round:1", "+reviewing")
    steps = [
        b.task(uuid, "modify", *(f"{k}:{v}" for k, v in facts.items()), hooks=False),
        b.task(uuid, "start", hooks=False),
        b.git(b.repo, "worktree", "add", "-q", "-b", branch, str(path), "main"),
        b.tmux("new-session", "-d", "-s", worker, "-c", str(path), "sleep 1000"),
    ]
    for argv in steps:
        b.run(argv)
    (path / f"floor{n}.md").write_text(f"# floor {n}\n", encoding="utf-8")
    steps = [
        b.git(path, "add", "-A"),
        b.git(path, "commit", "-qm", f"floor {n}"),
        b.git(path, "status", "--porcelain", "--untracked-files=all"),
        b.git(path, "rev-list", "--count", "main..HEAD"),
        b.task(uuid, "modify", "+coded", hooks=False),
        b.tmux("new-session", "-d", "-s", reviewer, "-c", str(path), "sleep 1000"),
        b.task(uuid, "modify", *review, hooks=False),
        b.task(uuid, "modify", "+lgtm", "ttal_review:approved", hooks=False),
        b.git(b.repo, "merge", "--no-ff", "-q", "-m", f"Merge {branch}", branch),
        b.task(uuid, "modify", "+merged", hooks=False),
        b.task(uuid, "done", hooks=False),
        b.tmux("kill-session", "-t", f"={worker}"),
        b.tmux("kill-session", "-t", f"={reviewer}"),
        b.git(b.repo, "worktree", "remove", "--force", str(path)),
        b.git(b.repo, "branch", "-D", "-q", branch),
    ]
    for argv in steps:
        b.run(argv)
