"""Test isolation: every test runs real task, git and tmux, each private to the test.

- HOME, XDG dirs and TMUX_TMPDIR point into a temp dir, so ~/.task, ~/.config,
  ~/.claude.json and the default tmux server cannot be reached;
- each sandbox has its own TASKRC and data dir, temp repos, and a unique `-L` socket,
  killed at teardown.

Which Taskwarrior: the `task` first on PATH, or TTAL_TEST_TASK=/path/to/task, put first on PATH
for the tests and for everything ttal starts (both call `task` by name). TTAL_TEST_TASK_MAJOR=3
makes a run that finds another major version fail at once (`make test-tw3`). The header names
the binary and its version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libtmux
import pytest

from ttal.adapters import poll, sandbox

REAL_HOME = Path.home()
GUARDED = [REAL_HOME / ".task", REAL_HOME / ".config" / "ttal", REAL_HOME / ".claude.json",
           REAL_HOME / ".taskrc"]  # fmt: skip
_TASK_KEY = pytest.StashKey[tuple[str, str]]()  # the `task` this run uses, and its version


def _use_chosen_task() -> None:
    """Put TTAL_TEST_TASK first on PATH. xdist's workers inherit the controller's environment
    (and run this again: the prefix is added once)."""
    chosen = os.environ.get("TTAL_TEST_TASK")
    if not chosen:
        return
    path = Path(chosen).absolute()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise pytest.UsageError(f"TTAL_TEST_TASK={chosen}: not an executable file")
    folder = path.parent
    if path.name != "task":  # PATH finds a program by its name: give it that name
        folder = Path(tempfile.mkdtemp(prefix="ttal-task-"))
        (folder / "task").symlink_to(path)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[0] != str(folder):
        os.environ["PATH"] = os.pathsep.join([str(folder), *parts])


def _task_version() -> tuple[str, str]:
    found = shutil.which("task")
    if not found:
        raise pytest.UsageError("no `task` on PATH: install Taskwarrior (make sysdeps)")
    proc = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30)
    version = proc.stdout.strip()
    if proc.returncode != 0 or not version:
        raise pytest.UsageError(f"{found} --version failed: {(proc.stderr or proc.stdout)[:300]}")
    return found, version


def pytest_configure(config: pytest.Config) -> None:
    _use_chosen_task()
    found, version = _task_version()
    want = os.environ.get("TTAL_TEST_TASK_MAJOR")
    if want and version.split(".")[0] != want:
        raise pytest.UsageError(
            f"this run must use Taskwarrior {want}.x (TTAL_TEST_TASK_MAJOR={want}), but `task` is"
            f" {found}, version {version}; TTAL_TEST_TASK={os.environ.get('TTAL_TEST_TASK', '')!r}"
        )
    config.stash[_TASK_KEY] = (found, version)


def pytest_report_header(config: pytest.Config) -> str:
    found, version = config.stash[_TASK_KEY]
    real = os.path.realpath(found)
    shown = found if real == found else f"{found} -> {real}"
    return f"taskwarrior: {version} ({shown})"


def pytest_sessionstart(session: pytest.Session) -> None:
    """-q hides the header (make test runs so): say which Taskwarrior this pass uses anyway,
    once, from the controller rather than from each xdist worker."""
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if config.get_verbosity() < 0 and reporter and not hasattr(config, "workerinput"):
        reporter.write_line(pytest_report_header(config))


def _fingerprint() -> dict[str, float]:
    return {str(p): p.stat().st_mtime if p.exists() else -1.0 for p in GUARDED}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = _fingerprint()
    home = tmp_path / "home"
    home.mkdir()
    tmux_tmp = tmp_path / "tmux"
    tmux_tmp.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("TMUX_TMPDIR", str(tmux_tmp))
    monkeypatch.setenv("TASKRC", str(home / "no-taskrc"))
    # Commands run in-process unless a test asks for the warm server (test_server.py), or
    # TTAL_TEST_SERVER=on runs the whole suite through it.
    monkeypatch.setenv("TTAL_SERVER", os.environ.get("TTAL_TEST_SERVER", "off"))
    for key in ("TMUX", "TMUX_PANE", "TTAL_AGENT", "TTAL_ROLE", "TTAL_TASK", "TTAL_CONFIG",
                "TASKDATA"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    yield
    assert _fingerprint() == before, "a test touched the real ~/.task, ~/.config/ttal or similar"


class Box:
    """A sandbox plus helpers to drive it the way a user would: through the CLI."""

    def __init__(self, inner: sandbox.Sandbox) -> None:
        self.sb = inner
        self.env = inner.env()

    def ttal(self, *args: str, env: dict[str, str] | None = None, check: bool = False,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "ttal", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ttal {args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def task(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["task", "rc.confirmation=no", "rc.verbose=nothing", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def add(self, description: str, *extra: str) -> str:
        proc = self.task("rc.verbose=new-uuid", "add", f"description:{description}", *extra)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split("Created task ")[1].split(".")[0].strip()

    def get(self, uuid: str) -> dict[str, Any]:
        # rc.gc=0: a test that polls a task must not be a person whose report runs gc (that
        # rewrites Taskwarrior 2.6's files unlocked and can undo a write of ttal's in flight,
        # which ttal repairs only at its next read: tests/test_person_reports.py covers it).
        proc = self.task(uuid, "export", "rc.json.array=on", "rc.gc=0")
        data: list[dict[str, Any]] = json.loads(proc.stdout)
        assert len(data) == 1, proc.stdout
        return data[0]

    def sessions(self) -> list[str]:
        proc = subprocess.run(["tmux", "-L", self.sb.socket, "list-sessions", "-F",
                               "#{session_name}"], capture_output=True, text=True)  # fmt: skip
        return proc.stdout.split() if proc.returncode == 0 else []

    def git(self, project: str, *args: str) -> str:
        return sandbox.git(self.sb.repos[project], *args)


@pytest.fixture
def make_box(tmp_path: Path, TestServer: type[libtmux.Server]) -> Callable[..., Box]:
    """Build a sandbox (repos, private Taskwarrior with ttal's hooks, private tmux). Each box's
    tmux server is one of libtmux's throwaway servers: its pytest plugin kills it and unlinks
    its socket at teardown, also when the test failed."""
    made: list[Box] = []

    def build(**kwargs: Any) -> Box:
        socket = TestServer().socket_name
        assert socket, "libtmux's TestServer names each server's socket"
        box = Box(sandbox.build(tmp_path / f"box{len(made)}", socket=socket, **kwargs))
        made.append(box)
        box.ttal("doctor", "--fix", check=True)
        return box

    return build


@pytest.fixture
def box(make_box: Callable[..., Box]) -> Box:
    return make_box()


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30, what: str = "condition",
    interval: float = 0.1,
) -> Any:  # fmt: skip
    """Poll with a deadline instead of sleeping (ttal's own poll.until); the first true
    answer, or an AssertionError that names what never came."""
    value = poll.until(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return value
