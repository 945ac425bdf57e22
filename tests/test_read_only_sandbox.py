"""`ttal` inside a read-only sandbox (a Codex review lead: TTAL_SANDBOX=read-only) never runs a
command in-process, where it could write nothing. With no warm server it starts one through
the tmux server its pane belongs to (outside the sandbox) and hands the command over; failing
that, it says so in one message. The real sandbox is in tests/test_codex_e2e.py."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Box


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ttal-ro-", dir="/tmp"))  # a short socket path
    yield path
    for sock in path.glob("ttal-*/server-*.sock"):
        with socket.socket(socket.AF_UNIX) as conn:
            try:
                conn.connect(str(sock))
            except OSError:
                continue
            conn.sendall(len(b"ctl:stop").to_bytes(4, "big") + b"ctl:stop")
            conn.recv(64)
    shutil.rmtree(path, ignore_errors=True)


def reviewer_env(box: Box, runtime_dir: Path, **extra: str) -> dict[str, str]:
    return {**box.env, "TTAL_SANDBOX": "read-only", "TTAL_SERVER": "on",
            "TTAL_RUNTIME_DIR": str(runtime_dir), "TTAL_AGENT": "r-12345678-implement",
            "TTAL_ROLE": "reviewer", **extra}  # fmt: skip


def ttal(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ttal", *args], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip


def test_no_server_and_no_tmux_is_one_clear_message(box: Box, runtime_dir: Path) -> None:
    proc = ttal(reviewer_env(box, runtime_dir), "review", "approve", "--note", "ok")
    assert proc.returncode == 15, proc.stderr
    assert "this session's filesystem is read-only" in proc.stderr, proc.stderr
    assert "nothing was done" in proc.stderr and "hint: " in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not list(runtime_dir.glob("ttal-*/server-*.sock"))  # it started nothing itself


def test_a_server_is_started_through_the_panes_tmux_server(box: Box, runtime_dir: Path) -> None:
    subprocess.run(["tmux", "-L", box.sb.socket, "new-session", "-d", "-s", "pane", "sleep 300"],
                   env=box.env, check=True)  # fmt: skip
    where = subprocess.run(["tmux", "-L", box.sb.socket, "display-message", "-p", "-t", "=pane:",
                            "#{socket_path},#{pid},0 #{pane_id}"], env=box.env, check=True,
                           capture_output=True, text=True).stdout.split()  # fmt: skip
    env = reviewer_env(box, runtime_dir, TMUX=where[0], TMUX_PANE=where[1])
    proc = ttal(env, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["socket"] == box.sb.socket  # the box's status, served
    started = ttal({**env, "TTAL_SANDBOX": ""}, "server", "status", "--json")
    info = json.loads(started.stdout)
    assert info["running"] and info["commands_served"] == 1, info  # it ran `status`
