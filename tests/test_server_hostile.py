"""The warm server on a machine shared with others (issue 15, findings 6-8).

Another user is played by a real process of another uid (`setpriv` to nobody, 65534): it
plants and swaps links in a folder it can write, or listens on a socket ttal might reach.
A base folder anyone can write (mode 0777, no sticky bit) stands for /tmp with
fs.protected_symlinks=0: that sysctl is not per namespace, so the tests never set it. Each
test has its own runtime dir (TTAL_RUNTIME_DIR) or HOME; none touches the real ones.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Box, wait_for
from tests.test_server import alive, copy_of_ttal, served_env, start, status, ttal

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
SECRET = "sk-planted-not-a-real-key"

pytestmark = pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which("setpriv"),
    reason="playing another user takes root and setpriv (util-linux)",
)

# The other user: swaps `<base>/ttal-<uid>` between a folder of ours it can name (it passes
# every check made on a path) and its own, where it listens on the socket name ttal uses,
# and keeps whatever reaches it.
SWAPPER = r"""
import os, socket, sys, threading
base, decoy, name, uid = sys.argv[1:5]
evil = os.path.join(base, "evil")
os.mkdir(evil)
os.chmod(evil, 0o755)
listener = socket.socket(socket.AF_UNIX)
listener.bind(os.path.join(evil, name))
os.chmod(os.path.join(evil, name), 0o777)
listener.listen(64)

def catch():
    while True:
        conn, _ = listener.accept()
        conn.settimeout(2)
        got = b""
        try:
            while len(got) < 4 or len(got) < 4 + int.from_bytes(got[:4], "big"):
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        conn.close()
        with open(os.path.join(evil, "caught"), "ab") as out:
            out.write(got + b"\n")

threading.Thread(target=catch, daemon=True).start()
link, tmp = os.path.join(base, "ttal-" + uid), os.path.join(base, ".swap")
print("ready", flush=True)
while True:
    for where in (decoy, evil):
        try:
            os.symlink(where, tmp)
            os.replace(tmp, link)
        except OSError:
            pass
"""

# Ours: hand a command to the warm server as often as it can for a while; nothing answers
# (no server runs), so each try costs microseconds and the race gets many chances.
TRIES = r"""
import sys, time
from ttal.warm import client
tries, end = 0, time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    client.run(["inbox", "human"])
    tries += 1
print(tries)
"""

# A stranger's server in a folder of ours: it listens on a socket ttal bound (so the path
# and the folder pass every check), and keeps whatever reaches it.
STRANGER = r"""
import socket, sys
listener = socket.socket(fileno=int(sys.argv[2]))
listener.listen(8)
print("ready", flush=True)
conn, _ = listener.accept()
conn.settimeout(5)
got = b""
try:
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        got += chunk
except OSError:
    pass
open(sys.argv[1], "wb").write(got)
"""


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    path = copy_of_ttal()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A base folder others can write."""
    base = Path(tempfile.mkdtemp(prefix="ttal-shared-", dir="/tmp"))
    base.chmod(0o777)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def hostile_env(box: Box, runtime_dir: Path, base: Path) -> dict[str, str]:
    env = served_env(box, runtime_dir, TTAL_RUNTIME_DIR=str(base), PLANTED_API_KEY=SECRET)
    return env


def socket_name(env: dict[str, str]) -> str:
    return Path(status(env)["socket"]).name


def test_a_planted_link_is_never_used(
    box: Box, runtime_dir: Path, shared: Path, tmp_path: Path
) -> None:
    """Finding 6, the state the other user leaves: `ttal-<uid>` is its link to a folder of
    ours that passes every check made through a path (ours, 0700). Nothing is made or
    reached through it: commands run in-process, and the person is told why."""
    env = hostile_env(box, runtime_dir, shared)
    decoy = Path(tempfile.mkdtemp(prefix="ttal-decoy-", dir=tmp_path))  # ours, 0700 (like /root)
    link = shared / f"ttal-{os.getuid()}"
    subprocess.run([*AS_NOBODY, "ln", "-s", str(decoy), str(link)], check=True, cwd="/")
    assert link.lstat().st_uid == NOBODY
    for _ in range(2):  # the first would start a server there, the second would use it
        served = ttal(env, "inbox", "human", "--json")
        assert served.returncode == 0, served.stderr
        assert json.loads(served.stdout)["messages"] == []
    assert not list(decoy.iterdir()), "a lock or socket was made through the link"
    assert status(env)["refused"] is True
    said = ttal(env, "server", "start")
    assert "is not yours alone" in said.stdout and "TTAL_RUNTIME_DIR" in said.stdout, said
    doctor = json.loads(ttal(env, "doctor", "--json").stdout)
    assert "not used" in next(c for c in doctor if c["name"] == "server")["detail"]


def test_a_swapped_link_never_gets_a_command(
    box: Box, runtime_dir: Path, shared: Path, tmp_path: Path
) -> None:
    """Finding 6, the race: whatever the link points at when ttal looks, its command, stdio
    and environment never reach the other user's socket; the command runs in-process.
    (Before, this took a lucky interleaving: caught in some runs, the planted link above
    shows the same hole every time.)"""
    env = hostile_env(box, runtime_dir, shared)
    decoy = Path(tempfile.mkdtemp(prefix="ttal-decoy-", dir=tmp_path))  # ours, 0700 (like /root)
    attacker = subprocess.Popen(
        [*AS_NOBODY, "/usr/bin/python3", "-c", SWAPPER, str(shared), str(decoy),
         socket_name(env), str(os.getuid())],
        stdout=subprocess.PIPE, text=True, cwd="/",
    )  # fmt: skip
    try:
        assert attacker.stdout is not None and attacker.stdout.readline() == "ready\n"
        tries = subprocess.run(
            [sys.executable, "-c", TRIES, "2"], env=env, capture_output=True, text=True,
            timeout=60, check=True, stdin=subprocess.DEVNULL, cwd="/",
        )  # fmt: skip
        served = ttal(env, "inbox", "human", "--json")  # the person's command, meanwhile
    finally:
        attacker.kill()
        attacker.wait()
    caught = shared / "evil" / "caught"
    got = caught.read_bytes() if caught.exists() else b""
    assert SECRET.encode() not in got, f"the other user got our environment ({got[:200]!r})"
    assert got == b"", "the other user's socket was connected to"
    assert int(tries.stdout) > 100, tries.stdout  # the race had its chances
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)["messages"] == []  # it ran here instead
    assert not list(decoy.iterdir())  # and started no server through the link either
    assert sorted(p.name for p in (shared / "evil").iterdir()) == [socket_name(env)]


def test_a_stranger_listening_in_our_dir_gets_nothing(
    box: Box, runtime_dir: Path, shared: Path
) -> None:
    """The folder and path pass every check, but the server at the other end is another
    user's (SO_PEERCRED): no stdio, no environment, and the command runs in-process."""
    env = hostile_env(box, runtime_dir, shared)
    ours = shared / f"ttal-{os.getuid()}"
    ours.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(ours / socket_name(env)))
    loot = shared / "loot"  # the stranger can write there
    stranger = subprocess.Popen(
        [*AS_NOBODY, "/usr/bin/python3", "-c", STRANGER, str(loot), str(listener.fileno())],
        pass_fds=[listener.fileno()], stdout=subprocess.PIPE, text=True, cwd="/",
    )  # fmt: skip
    listener.close()
    try:
        assert stranger.stdout is not None and stranger.stdout.readline() == "ready\n"
        served = ttal(env, "inbox", "human", "--json")
        stranger.wait(timeout=20)  # it was connected to, and kept what it got
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()
        ttal(env, "server", "stop")  # the one the in-process command started, in its place
    assert stranger.returncode == 0  # it was connected to, and kept what it got: nothing
    got = loot.read_bytes()
    assert SECRET.encode() not in got and b"inbox" not in got, got[:200]
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)["messages"] == []


@pytest.fixture
def server_env(box: Box, runtime_dir: Path) -> Iterator[dict[str, str]]:
    env = served_env(box, runtime_dir)
    info = start(env)
    yield env
    ttal(env, "server", "stop")
    wait_for(lambda: not alive(info["pid"]), 10, "the server to leave")


def test_another_user_reaching_the_socket_is_not_served(
    box: Box, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Even a socket made reachable by mistake serves no one but its own user."""
    path = Path(status(server_env)["socket"])
    before = status(server_env)["commands_served"]
    request = b"\0".join([b"ttal1", b"/", b"18", b"2", b"inbox", b"human"])
    request += b"\0" + b"\0".join(f"{k}={v}".encode() for k, v in server_env.items())
    probe = (
        "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
        "r = bytes.fromhex(sys.argv[2]); s.settimeout(10)\n"
        "try: socket.send_fds(s, [len(r).to_bytes(4, 'big') + r], [0, 1, 2]); print(s.recv(1))\n"
        "except (BrokenPipeError, ConnectionResetError): print(b'')"  # closed on us
    )
    path.parent.chmod(0o711)  # the mistake (ttal itself then refuses to use the folder)
    path.parent.parent.chmod(0o711)
    path.chmod(0o777)
    try:
        got = subprocess.run(
            [*AS_NOBODY, "/usr/bin/python3", "-c", probe, str(path), request.hex()],
            capture_output=True, text=True, timeout=30, check=False, cwd="/",
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        path.parent.chmod(0o700)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "b''", got.stdout  # closed: no P, nothing forked
    assert status(server_env)["commands_served"] == before


def send_request(sock: socket.socket, header: int, body: bytes, fd: int) -> None:
    fds = array("i", [fd, fd, fd]).tobytes()
    sock.sendmsg([header.to_bytes(4, "big") + body], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])


def closed_by_server(sock: socket.socket, flags: int = 0) -> bool:
    try:
        return sock.recv(1, flags) == b""
    except ConnectionResetError:  # closed with bytes of ours unread
        return True


def pipe_closed(read_end: int) -> bool:
    """True at end of file (no writer left anywhere), False while a writer is still open."""
    try:
        return os.read(read_end, 1) == b""
    except BlockingIOError:
        return False


@pytest.mark.parametrize("header", [100, (4 << 20) + 1], ids=["short", "oversized"])
def test_a_rejected_request_gives_back_its_descriptors(
    server_env: dict[str, str], header: int
) -> None:
    """Finding 7: the caller's output pipe reaches end of file once the server lets go."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(status(server_env)["socket"])
            send_request(sock, header, b"ttal1\0/\0", write_end)
            os.close(write_end)
            sock.shutdown(socket.SHUT_WR)  # nothing more is coming
            sock.settimeout(20)
            assert closed_by_server(sock)  # rejected
        assert pipe_closed(read_end), "the server still holds the caller's pipe"
    finally:
        os.close(read_end)
    assert ttal(server_env, "inbox", "human").returncode == 0  # and it serves on


def test_silent_clients_delay_no_one(server_env: dict[str, str]) -> None:
    """Finding 8: three silent clients and a half-sent one; a real command is served while
    all of them are still connected (not after them, one by one, 5 s each), and the
    half-sent one's pipe is given back when its time is up."""
    path = status(server_env)["socket"]
    before = status(server_env)["commands_served"]
    silent = [socket.socket(socket.AF_UNIX) for _ in range(3)]
    half = socket.socket(socket.AF_UNIX)
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    try:
        for sock in [*silent, half]:
            sock.connect(path)
        send_request(half, 100, b"ttal1\0", write_end)  # and then nothing
        os.close(write_end)
        answered = ttal(server_env, "inbox", "human", "--json")
        assert answered.returncode == 0, answered.stderr

        def still_waiting(sock: socket.socket) -> bool:
            try:
                return not closed_by_server(sock, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return True

        assert all(still_waiting(s) for s in [*silent, half]), "served only after them"
        assert not pipe_closed(read_end)  # the half-sent request is still being waited for
        assert status(server_env)["commands_served"] == before + 1  # served, not in-process
        wait_for(lambda: pipe_closed(read_end), 15, "the half-sent request's pipe back")
        wait_for(lambda: not any(still_waiting(s) for s in silent), 15, "the silent ones let go")
    finally:
        for sock in [*silent, half]:
            sock.close()
        os.close(read_end)


def test_requests_read_before_a_stop_are_all_answered(server_env: dict[str, str]) -> None:
    """Requests are read side by side, so two can arrive after the server stopped listening
    (here two stops while a command runs): each is answered, and the command finishes
    with its own answer (not "lost the ttal server")."""
    before = status(server_env)["commands_running"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttal", "send", "--to", "human", "-"], env=server_env,
        cwd=server_env["TTAL_RUNTIME_DIR"], text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_for(lambda: status(server_env)["commands_running"] > before, 20, "the command to start")
    path = status(server_env)["socket"]
    stops = [socket.socket(socket.AF_UNIX) for _ in range(2)]
    try:
        for sock in stops:
            sock.connect(path)
            sock.settimeout(20)
        for sock in stops:
            sock.sendall(len(b"ctl:stop").to_bytes(4, "big") + b"ctl:stop")
        answers = [sock.recv(64) for sock in stops]
    finally:
        for sock in stops:
            sock.close()
    assert all(answer.isdigit() for answer in answers), answers
    out, err = proc.communicate("hello", timeout=30)
    local = ttal({**server_env, "TTAL_SERVER": "off"}, "send", "--to", "human", "-", stdin="hello")
    assert (proc.returncode, out, err) == (local.returncode, local.stdout, local.stderr)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ttal", *args], env=env, capture_output=True, text=True,
        timeout=60, check=False, cwd=env["HOME"], stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_the_runtime_dir_prefers_the_users_own_places(
    runtime_dir: Path, make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """No runtime dir given: the user's cache, not /tmp (root in a container, cron). The
    socket path may be longer than sun_path holds: it is reached through the open folder."""
    box = make_box()
    env = served_env(box, runtime_dir)
    for key in ("TTAL_RUNTIME_DIR", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME"):
        env.pop(key, None)
    home = tmp_path / ("h" * 60)  # with the cache path and the host: over 108 bytes
    home.mkdir()
    env["HOME"] = str(home)
    started = cli(env, "server", "start", "--json")
    info = json.loads(started.stdout)
    try:
        assert info["running"], started.stdout + started.stderr
        socket_path = Path(info["socket"])
        assert socket_path.is_relative_to(home / ".cache" / "ttal" / "run"), socket_path
        assert socket_path.parent.name == f"ttal-{os.getuid()}"
        assert (socket_path.parent.stat().st_mode & 0o777) == 0o700
        assert len(bytes(socket_path)) > 108
        assert cli(env, "inbox", "human").returncode == 0
        served = json.loads(cli(env, "server", "status", "--json").stdout)
        assert served["commands_served"] == 1, served
    finally:
        cli(env, "server", "stop")
        if info.get("pid"):
            wait_for(lambda: not alive(info["pid"]), 10, "the server to leave")
    # XDG_RUNTIME_DIR, when there is one, comes first; /tmp only without a home of ours.
    probe = "from ttal.adapters import relay; print(relay.runtime_dir())"
    for extra, expected in (
        ({"XDG_RUNTIME_DIR": str(tmp_path / "xdg")}, tmp_path / "xdg"),
        ({"HOME": "/nonexistent"}, Path("/tmp")),
    ):
        where = subprocess.run(
            [sys.executable, "-c", probe], env={**env, **extra}, capture_output=True,
            text=True, timeout=30, check=True,
        )  # fmt: skip
        assert Path(where.stdout.strip()) == expected / f"ttal-{os.getuid()}"
