"""The operations bench/run.py and bench/scale.py time: each a pair of ttal doing it and the
raw `task`, `git` and `tmux` commands doing the same external work (the floor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import expect

from ttal.adapters import sandbox

REPO_FILES = 50
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


class Bench:
    """A sandbox plus the raw commands and ttal, run with the sandbox's environment."""

    def __init__(
        self,
        tmp: Path,
        name: str = "box",
        worker: str = IDLE_SCRIPT,
        reviewer: str = IDLE_SCRIPT,
        task_bin: Path | None = None,
        managers: tuple[str, ...] = (),
    ) -> None:
        """A sandbox under tmp/name whose agents run the scripts `worker` and `reviewer`;
        `task_bin`: a Taskwarrior to run instead of the `task` on PATH (for ttal too);
        `managers`: more managers like RECIPIENT."""
        self.tmp = tmp
        self.box = sandbox.build(
            tmp / name,
            repos={"api": {f"src/file{i:02d}.txt": f"line {i}\n" for i in range(REPO_FILES)}},
            worker_script=self._script(f"{name}-worker.yaml", worker),
            reviewer_script=self._script(f"{name}-reviewer.yaml", reviewer),
            extra_yaml="limits:\n  max_workers: 1000\n",
            # It prints a line first: `ttal up` waits for a silent program's screen to show
            # something, up to 15 s.
            runtimes_yaml="""bench-cat: {kind: command, command: "sh -c 'echo ready; exec cat'"}""",
            agents_yaml="\n".join(
                f"{name}: {{role: manager, runtime: bench-cat}}" for name in (RECIPIENT, *managers)
            ),
        )
        # Pinned: the tmux server must live under tmp, where the cleanup looks for it.
        self.env = {**self.box.env(), "TMUX_TMPDIR": os.environ["TMUX_TMPDIR"]}
        if task_bin is not None:
            self.env["PATH"] = f"{task_bin.parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.repo = self.box.repos["api"]
        script = Path(sys.executable).parent / "ttal"
        self.ttal_argv = [str(script)] if script.exists() else [sys.executable, "-m", "ttal"]
        self.counter = 0
        self.cold_env = {**self.env, "TTAL_SERVER": "off"}

    def _script(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    # ---- running things --------------------------------------------------------------------
    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> str:
        proc = subprocess.run(
            argv,
            env=env or self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=timeout,
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
