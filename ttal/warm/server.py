"""A warm ttal: everything imported once, one forked child per command (see ttal/client.py).

    python -m ttal.warm.server SOCKET_PATH

Started in the background by the first command that finds no server. It leaves when it has
been idle for TTAL_SERVER_IDLE seconds (default 900), when its socket file is removed or
replaced, or when ttal's code changes under it (the command that notices runs in-process).
Children are reaped through pidfds; the exit code goes back to the waiting client.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import selectors
import signal
import socket
import sys
import time
from array import array
from pathlib import Path

from ttal.warm.client import PROTOCOL, safe_dir

PKG = Path(__file__).resolve().parent.parent  # the ttal package
MAX_REQUEST = 4 << 20
TICK = 1.0  # seconds between checks that the socket is still ours
RELAYED = frozenset((signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT))


def preload() -> None:
    """Import what the served commands use, so a child only does the work."""
    import ttal.cli.app  # typer and every command's options
    import ttal.main  # noqa: F401

    for info in sorted((PKG / "commands").glob("*.py")):
        __import__(f"ttal.commands.{info.stem}")
    for name in ("engine.drive", "engine.workers", "engine.review_rounds", "engine.apply",
                 "engine.merge", "engine.routing", "engine.mesh", "engine.recovery",
                 "engine.journal", "adapters.task_hooks", "engine.sessions", "engine.spawn_queue",
                 "engine.queues", "engine.agents", "engine.watch_pass", "adapters.store.state",
                 "adapters.taskwarrior", "adapters.git"):  # fmt: skip
        __import__(f"ttal.{name}")


def fingerprint() -> list[tuple[str, int, int]]:
    """ttal's source files as they are now: a change means this server runs old code."""
    found = []
    for path in sorted(PKG.rglob("*.py")):
        try:
            st = path.stat()
        except OSError:
            continue
        found.append((str(path), st.st_mtime_ns, st.st_size))
    return found


class Server:
    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, conn)
        self.code = fingerprint()
        self.last_used = time.monotonic()
        self.idle_limit = float(os.environ.get("TTAL_SERVER_IDLE", "900") or 900)
        self.closing = False
        self.inode = 0
        self.lock = -1
        self.served = 0
        self.started = time.monotonic()

    def bind(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a dead server's; we hold the lock, so no live one's
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.inode = os.stat(self.path).st_ino
        self.selector.register(self.listener, selectors.EVENT_READ)

    def still_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select(TICK):
                if key.fileobj is self.listener:
                    self.accept()
                elif key.data == "child":
                    self.reap(int(key.fd))
                else:
                    self.relay(key.data)
            if self.children:
                self.last_used = time.monotonic()
            elif self.closing or not self.still_ours() or self.idle():
                return
            if not self.closing and not self.still_ours():
                self.stop_listening()

    def idle(self) -> bool:
        return time.monotonic() - self.last_used > self.idle_limit

    def stop_listening(self) -> None:
        self.closing = True
        self.selector.unregister(self.listener)
        self.listener.close()
        if self.still_ours():
            os.unlink(self.path)

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        self.last_used = time.monotonic()
        try:
            conn.settimeout(5)
            payload, fds = receive(conn)
        except (OSError, ValueError):
            conn.close()
            return
        try:
            if payload.startswith(b"ctl:"):
                self.control(conn, payload)
                return
            if fingerprint() != self.code:
                conn.sendall(b"S")  # the client runs it in-process; we leave
                self.stop_listening()
                return
            pid = os.fork()
            if pid == 0:
                child(conn, payload, fds, self)
            self.served += 1
            pidfd = os.pidfd_open(pid)
            self.children[pidfd] = (pid, conn)
            self.selector.register(pidfd, selectors.EVENT_READ, "child")
            self.selector.register(conn, selectors.EVENT_READ, pidfd)  # the client's signals
            conn = None  # type: ignore[assignment]
        finally:
            for fd in fds:
                os.close(fd)
            if conn is not None:
                conn.close()

    def control(self, conn: socket.socket, payload: bytes) -> None:
        if payload == b"ctl:status":
            up = time.monotonic() - self.started
            conn.sendall(f"{os.getpid()} {len(self.children)} {self.served} {up:.0f}".encode())
        elif payload == b"ctl:stop":
            conn.sendall(f"{os.getpid()}".encode())
            self.stop_listening()

    def relay(self, pidfd: int) -> None:
        """The client got ^C (or TERM, HUP, QUIT): pass it on through the pidfd, which names
        exactly our child (a pid from the client could be another process in its namespace)."""
        _, conn = self.children[pidfd]
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        if not data:  # the client is gone; the child finishes its work all the same
            self.selector.unregister(conn)
            return
        for at in range(0, len(data) - 4, 5):
            signum = int.from_bytes(data[at + 1 : at + 5], "big")
            if data[at : at + 1] == b"K" and signum in RELAYED:
                with contextlib.suppress(OSError):  # it has just exited
                    signal.pidfd_send_signal(pidfd, signum)

    def reap(self, pidfd: int) -> None:
        pid, conn = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code  # killed by a signal: like a shell reports it
        with contextlib.suppress(OSError):  # a client gone away: the work is done all the same
            conn.sendall(b"X" + code.to_bytes(4, "big", signed=True))
        conn.close()


def receive(conn: socket.socket) -> tuple[bytes, list[int]]:
    fds = array("i")
    header, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    if len(header) < 4:
        raise ValueError("short header")
    size = int.from_bytes(header, "big")
    if size > MAX_REQUEST:
        raise ValueError("request too large")
    payload = b""
    while len(payload) < size:
        chunk = conn.recv(size - len(payload))
        if not chunk:
            raise ValueError("short request")
        payload += chunk
    return payload, list(fds)


def child(conn: socket.socket, payload: bytes, fds: list[int], server: Server) -> None:
    """Become the client's process: its fds, env, cwd and umask; then run the command."""
    code = 1
    try:
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        server.selector.close()
        server.listener.close()
        os.close(server.lock)
        for pidfd, (_, other) in server.children.items():
            os.close(pidfd)
            other.close()
        args = adopt(payload, fds)
        conn.sendall(b"P" + os.getpid().to_bytes(4, "big"))
        conn.close()
        from ttal.main import main

        code = main(args)
    except BaseException:  # never return into the server's loop
        import traceback

        traceback.print_exc()
        code = 3
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code & 0xFF)


def adopt(payload: bytes, fds: list[int]) -> list[str]:
    fields = payload.split(b"\0")
    if fields[0] != PROTOCOL or len(fds) != 3:
        raise ValueError("not a ttal request")
    cwd, umask, count = fields[1], int(fields[2]), int(fields[3])
    args = [os.fsdecode(a) for a in fields[4 : 4 + count]]
    env = dict(item.partition(b"=")[::2] for item in fields[4 + count :])
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environb.clear()
    os.environb.update(env)
    time.tzset()
    os.umask(umask)
    os.chdir(cwd)
    unbuffered = bool(env.get(b"PYTHONUNBUFFERED"))
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = _writer(1, os.isatty(1), unbuffered, "strict")
    sys.stderr = _writer(2, True, unbuffered, "backslashreplace")
    sys.argv = ["ttal", *args]
    return args


def _writer(fd: int, line: bool, unbuffered: bool, errors: str) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding="utf-8",
        errors=errors,
        line_buffering=line,
        write_through=unbuffered,
    )


def main(path: str) -> int:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if not safe_dir(directory):
        return 1
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another server is starting or running
    os.chdir("/")  # pin no directory a user may want to remove
    preload()
    server = Server(path)
    server.lock = lock
    server.bind()
    try:
        server.serve()
    finally:
        if server.still_ours():
            os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
