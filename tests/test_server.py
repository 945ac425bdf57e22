"""The warm server (ttal/warm/server.py): a served command is the same command, only sooner.

Each test gets its own short runtime dir (a Unix socket path must stay under 108 bytes) and
stops its server at the end. Nothing is mocked: real sockets, forks, signals, task and tmux.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.mesh_helpers import recorder_box, up

ROOT = Path(__file__).resolve().parent.parent


def copy_of_ttal() -> Path:
    """A short dir for the socket, and a copy of ttal to serve: a server leaves when the code
    it runs changes, and the checkout may be edited while the tests run."""
    path = Path(tempfile.mkdtemp(prefix="ttal-srv-", dir="/tmp"))
    for part in ("ttal", "hooks", "examples"):  # ttal finds hooks/ and examples/ beside it
        shutil.copytree(
            ROOT / part, path / "pkg" / part, ignore=shutil.ignore_patterns("__pycache__")
        )
    return path


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    path = copy_of_ttal()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def served_env(box: Box, runtime_dir: Path, **extra: str) -> dict[str, str]:
    return {**box.env, "TTAL_SERVER": "on", "TTAL_RUNTIME_DIR": str(runtime_dir),
            "PYTHONPATH": str(runtime_dir / "pkg"), **extra}  # fmt: skip


def ttal(env: dict[str, str], *args: str, stdin: str | None = None,
         argv0: list[str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [*(argv0 or [sys.executable, "-m", "ttal"]), *args], env=env, input=stdin,
        capture_output=True, text=True, timeout=60, check=False, cwd=env["TTAL_RUNTIME_DIR"],
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )  # fmt: skip


def status(env: dict[str, str]) -> dict[str, Any]:
    proc = ttal({**env, "TTAL_SERVER": "off"}, "server", "status", "--json")
    assert proc.returncode == 0, proc.stderr
    info: dict[str, Any] = json.loads(proc.stdout)
    return info


def start(env: dict[str, str]) -> dict[str, Any]:
    proc = ttal(env, "server", "start", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info: dict[str, Any] = json.loads(proc.stdout)
    assert info["running"], info
    return info


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.fixture
def mgr_box(make_box: Callable[..., Box], tmp_path: Path) -> Box:
    box = recorder_box(make_box, tmp_path / "rec", ["mgr"])
    assert up(box, "mgr")[0]["action"] == "started"
    return box


@pytest.fixture
def env(mgr_box: Box, runtime_dir: Path) -> Iterator[dict[str, str]]:
    env = served_env(mgr_box, runtime_dir)
    info = start(env)
    yield env
    ttal(env, "server", "stop")
    wait_for(lambda: not alive(info["pid"]), 10, "the server to leave")


def test_served_commands_answer_as_in_process(mgr_box: Box, env: dict[str, str]) -> None:
    uuid = mgr_box.add("Served or not", "project:api")
    cases = [
        ("go", "no-such-task"),
        ("go",),
        ("send", "--to", "nobody", "hi"),
        ("send", "--to", "mgr", ""),
        ("inbox", "human", "--json"),
        ("review", "approve"),
        ("go", uuid[:8], "--json"),
    ]
    before = status(env)["commands_served"]
    for args in cases:
        served = ttal(env, *args)
        local = ttal({**env, "TTAL_SERVER": "off"}, *args)
        if args[0] == "go" and len(args) == 3:  # the served one spawned; the local one says so
            assert served.returncode == 0, served.stderr
            assert "spawned worker" in served.stdout
            assert json.loads(local.stdout)["message"] or json.loads(local.stdout)["did"] == []
            continue
        assert (served.returncode, served.stdout, served.stderr) == (
            local.returncode,
            local.stdout,
            local.stderr,
        ), args
        assert served.returncode != 0 or args[0] == "inbox", args
    assert status(env)["commands_served"] == before + len(cases)
    doctor = json.loads(ttal(env, "doctor", "--json").stdout)
    server = [c for c in doctor if c["name"] == "server"]
    assert f"running (pid {status(env)['pid']}" in server[0]["detail"], server


def test_stdin_identity_and_bytes_reach_the_child(mgr_box: Box, env: dict[str, str]) -> None:
    body = "line one\n-n --help $(x) 日本語 🎉\n\nlast"
    sent = ttal(env, "send", "--to", "mgr", "--json", "-", stdin=body)
    assert sent.returncode == 0, sent.stderr
    inbox = json.loads(ttal(env, "inbox", "mgr", "--json").stdout)
    assert [m["body"] for m in inbox["messages"]] == [body]
    assert inbox["messages"][0]["from"] == "human"
    # A worker's identity travels in the environment: the child refuses like ttal would.
    uuid = mgr_box.add("A worker's task", "project:api")
    worker = {**env, "TTAL_AGENT": f"w-{uuid[:8]}", "TTAL_ROLE": "worker", "TTAL_TASK": uuid}
    refused = ttal(worker, "send", "--to", "mgr", "hello")
    assert refused.returncode == 13, refused.stderr
    assert "ttal alert" in refused.stderr
    # Arguments that are not UTF-8 arrive as the same bytes and get the same refusal.
    latin1 = b"caf\xe9".decode("utf-8", "surrogateescape")
    raw = subprocess.run(
        [sys.executable, "-m", "ttal", "send", "--to", "mgr", latin1],
        env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
        cwd=env["TTAL_RUNTIME_DIR"],
    )  # fmt: skip
    assert raw.returncode == 2 and "is not UTF-8" in raw.stderr, raw.stderr
    assert len(json.loads(ttal(env, "inbox", "mgr", "--json").stdout)["messages"]) == 1


def _blocked_send(env: dict[str, str]) -> subprocess.Popen[str]:
    """A served `ttal send -` that waits on its stdin until the test writes and closes it."""
    before = status(env)["commands_running"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttal", "send", "--to", "mgr", "-"], env=env, text=True,
        cwd=env["TTAL_RUNTIME_DIR"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_for(lambda: status(env)["commands_running"] > before, 20, "the child to start")
    return proc


def _bodies(env: dict[str, str]) -> list[str]:
    inbox = json.loads(ttal(env, "inbox", "mgr", "--json").stdout)
    return [m["body"] for m in inbox["messages"]]


def test_ctrl_c_reaches_the_child(mgr_box: Box, env: dict[str, str]) -> None:
    proc = _blocked_send(env)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)  # stdin still open: only the signal can end it
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err
    assert _bodies(env) == []  # nothing half-sent
    assert status(env)["commands_running"] == 0


def test_work_survives_its_client_and_its_server(
    mgr_box: Box, env: dict[str, str], runtime_dir: Path
) -> None:
    # The client killed outright: the child still finishes the work it was given.
    proc = _blocked_send(env)
    assert proc.stdin is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdin.write("after the client died")
    proc.stdin.close()
    wait_for(lambda: _bodies(env) == ["after the client died"], 20, "the orphaned send")
    # The server killed outright: the client says so (not a silent 0); the child finishes.
    proc = _blocked_send(env)
    assert proc.stdin is not None
    os.kill(status(env)["pid"], signal.SIGKILL)
    proc.stdin.write("after the server died")
    proc.stdin.close()
    proc.wait(timeout=20)
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert proc.returncode == 15, err
    assert "lost the ttal server" in err
    wait_for(lambda: len(_bodies(env)) == 2, 20, "the second orphaned send")
    assert _bodies(env)[1] == "after the server died"
    # The next command runs in-process and starts a fresh server.
    assert ttal(env, "inbox", "mgr").returncode == 0
    wait_for(lambda: status(env)["running"], 20, "a new server")


def test_changed_code_is_never_served_stale(mgr_box: Box, runtime_dir: Path) -> None:
    pkg = runtime_dir / "pkg"
    env = served_env(mgr_box, runtime_dir)
    info = start(env)
    assert ttal(env, "inbox", "mgr").returncode == 0
    assert status(env)["commands_served"] == 1
    target = pkg / "ttal" / "cli" / "render.py"
    target.write_text(target.read_text() + "\nSTALE_CHECK = 1\n")
    assert ttal(env, "inbox", "mgr").returncode == 0  # run in-process: the old code is stale
    wait_for(lambda: not alive(info["pid"]), 10, "the stale server to leave")
    assert ttal(env, "inbox", "mgr").returncode == 0  # finds none: runs here, starts one
    fresh = wait_for(lambda: status(env)["running"] and status(env), 20, "a fresh server")
    assert fresh["pid"] != info["pid"]
    ttal(env, "server", "stop")


def test_a_dir_others_can_write_is_never_used(mgr_box: Box, runtime_dir: Path) -> None:
    env = served_env(mgr_box, runtime_dir)
    shared = runtime_dir / f"ttal-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    proc = ttal(env, "inbox", "mgr", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["messages"] == []
    time.sleep(1)
    assert not list(shared.iterdir())  # no socket, no lock: no server started there
    assert not status(env)["running"]


def test_first_command_starts_one_and_idle_ends_it(mgr_box: Box, runtime_dir: Path) -> None:
    # Idle for 6 s ends it: long enough that each `status` (a process start, over a second
    # on a loaded machine) still finds it running; at 2 s a busy run never saw it (a flake).
    env = served_env(mgr_box, runtime_dir, TTAL_SERVER_IDLE="6")
    assert not status(env)["running"]
    assert ttal(env, "inbox", "mgr").returncode == 0
    info = wait_for(lambda: status(env)["running"] and status(env), 20, "a server")
    assert ttal(env, "inbox", "mgr").returncode == 0
    assert status(env)["commands_served"] == 1
    wait_for(lambda: not alive(info["pid"]), 30, "the idle server to leave")
    assert not Path(status(env)["socket"]).exists()


def test_removing_the_socket_ends_it(mgr_box: Box, runtime_dir: Path) -> None:
    env = served_env(mgr_box, runtime_dir)
    info = start(env)
    Path(info["socket"]).unlink()
    wait_for(lambda: not alive(info["pid"]), 10, "the server to notice")


def test_sixteen_racing_go_through_the_server_spawn_one_worker(
    make_box: Callable[..., Box], tmp_path: Path, runtime_dir: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    env = served_env(box, runtime_dir)
    info = start(env)
    uuid = box.add("Race through the server", "project:api")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ttal", "go", uuid],
            env=env,
            cwd=runtime_dir,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(16)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    assert sum("spawned worker" in out for _, out, _ in results) == 1
    assert box.sessions() == [f"w-{uuid[:8]}"]
    assert len(by_hand.worktrees(box, "api")) == 1
    assert status(env)["commands_served"] == 16
    ttal(env, "server", "stop")
    wait_for(lambda: not alive(info["pid"]), 10, "the server to leave")


def test_demo_through_the_server_leaves_nothing_running(runtime_dir: Path) -> None:
    env = {**os.environ, "TTAL_SERVER": "on", "PYTHONPATH": str(runtime_dir / "pkg")}
    proc = subprocess.run(
        [sys.executable, "-m", "ttal", "demo", "--json"], env=env, cwd=runtime_dir,
        capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["tasks"] and all(t["result"] for t in summary["tasks"]), summary
    assert summary["served_warm"] > 10, summary  # the agents' ttal commands

    def demo_servers() -> list[str]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes().split(b"\0")
            except OSError:
                continue
            if b"ttal.serve" in args and any(b"ttal-demo-" in a for a in args):
                found.append(cmdline.parent.name)
        return found

    wait_for(lambda: not demo_servers(), 10, "the demo's server to leave")


def test_a_terminal_read_is_never_handed_to_the_server(mgr_box: Box, env: dict[str, str]) -> None:
    """The child is not in the terminal's foreground group: reading the terminal would stop
    it. So `-` with a terminal on stdin runs in-process (here: refused, as no text is piped)."""
    import pty

    primary, terminal = pty.openpty()
    try:
        before = status(env)["commands_served"]
        proc = subprocess.run(
            [sys.executable, "-m", "ttal", "send", "--to", "mgr", "-"], env=env,
            stdin=terminal, capture_output=True, text=True, timeout=60, check=False,
            cwd=env["TTAL_RUNTIME_DIR"],
        )  # fmt: skip
        assert proc.returncode == 2 and "pipe it in" in proc.stderr, proc.stderr
        assert status(env)["commands_served"] == before
        served = ttal(env, "inbox", "mgr")  # no `-`: served as usual
        assert served.returncode == 0
        assert status(env)["commands_served"] == before + 1
    finally:
        os.close(primary)
        os.close(terminal)
