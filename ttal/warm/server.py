"""A warm ttal: everything imported once, one forked child per command (see client.py).

    python -m ttal.serve SOCKET_PATH

ttal/serve.py is the process entry: it hands `main` what to preload and how to run one
command line (the same runner, with the same error handling, as an in-process `ttal`), so
this package knows nothing of the commands it serves. Started in the background (through
ttal.adapters.relay) by the first command that finds no server. It leaves when it has
been idle for TTAL_SERVER_IDLE seconds (default 900), when its socket file is removed or
replaced, or when ttal's code changes under it (the command that notices runs in-process).
Children are reaped through pidfds; the exit code goes back to the waiting client.

At most TTAL_SERVER_CHILDREN children run at once (default: twice the cores); the requests
beyond wait, in the order they came, and start as children end (issue 14: a burst of 50
workers once had 100 children alive, most waiting on one Taskwarrior lock, 600 MB). A child
running longer than LONG_RUNNING (a `ttal deliver` loop, a wait for an agent's own `ttal
report`) stops counting, so the commands it waits for are never held behind it. Past
MAX_WAITING requests held here (each holds the client's descriptors), the server stops
accepting: the rest wait in the socket's backlog, and their clients in connect().
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import selectors
import signal
import socket
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path

from ttal.adapters import relay
from ttal.errors import Exit
from ttal.warm.child import child, gone

Runner = Callable[[list[str]], int]  # one command line in, its exit code out

PKG = Path(__file__).resolve().parent.parent  # the ttal package
MAX_REQUEST = 4 << 20
TICK = 1.0  # seconds between checks that the socket is still ours
DEADLINE = 5.0  # seconds a client has to send its whole request
RELAYED = frozenset((signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT))
LONG_RUNNING = 30.0  # seconds after which a child no longer counts against the limit
MAX_WAITING = 128  # requests held in order; past it the rest wait in the listen backlog


def child_limit() -> int:
    """TTAL_SERVER_CHILDREN, else twice the cores (a command mostly waits on task, git and
    tmux). Unparsable or below 1: the default."""
    default = 2 * (os.cpu_count() or 1)
    try:
        value = int(os.environ.get("TTAL_SERVER_CHILDREN", "") or default)
    except ValueError:
        return default
    return value if value >= 1 else default


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


class Pending:
    """A request still arriving: its bytes and descriptors so far, and its deadline. Read as
    it comes, between everything else, so a silent or slow client delays nobody."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.data = b""
        self.fds: list[int] = []
        self.deadline = time.monotonic() + DEADLINE

    def read(self) -> bool:
        """Take what has arrived; True once the request is whole. ValueError for a short,
        oversized or malformed one, OSError for a broken connection."""
        size = 4 + int.from_bytes(self.data[:4], "big") if len(self.data) >= 4 else 4
        if size > 4 + MAX_REQUEST:
            raise ValueError("request too large")
        fds = array("i")
        data, ancdata, flags, _ = self.conn.recvmsg(
            min(size - len(self.data), 1 << 16),
            socket.CMSG_SPACE(3 * fds.itemsize),
            socket.MSG_CMSG_CLOEXEC,
        )
        for level, kind, raw in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(raw[: len(raw) - len(raw) % fds.itemsize])
        self.fds += fds
        if flags & socket.MSG_CTRUNC or len(self.fds) > 3:
            raise ValueError("too many descriptors")
        if not data:
            raise ValueError("short request")
        self.data += data
        return len(self.data) >= 4 and len(self.data) == 4 + int.from_bytes(self.data[:4], "big")

    def close(self) -> None:
        """Give back everything the client handed over: a caller's pipe kept open here would
        never see its end of file."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []
        self.conn.close()


class Server:
    def __init__(self, directory: int, name: str, runner: Runner) -> None:
        self.directory = directory  # the runtime dir, open (relay.open_dir)
        self.name = name
        self.runner = runner
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, conn)
        self.born: dict[int, float] = {}  # pidfd -> when it was forked (monotonic)
        self.waiting: collections.deque[tuple[socket.socket, bytes, list[int]]] = (
            collections.deque()
        )  # whole requests not yet forked, oldest first
        self.limit = child_limit()
        self.peak = 0  # the most children alive at once
        self.accepting = False
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
            os.unlink(self.name, dir_fd=self.directory)  # a dead server's: we hold the lock
        self.listener.bind(relay.at(self.directory, self.name))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.inode = os.stat(self.name, dir_fd=self.directory, follow_symlinks=False).st_ino
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.accepting = True

    def still_ours(self) -> bool:
        try:
            st = os.stat(self.name, dir_fd=self.directory, follow_symlinks=False)
        except OSError:
            return False
        return st.st_ino == self.inode

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select(self.timeout()):
                if key.fileobj is self.listener:
                    self.accept()
                elif key.data == "child":
                    self.reap(int(key.fd))
                elif isinstance(key.data, Pending):
                    self.receive(key.data)
                else:
                    self.forward(key.data)
            self.start_waiting()
            self.expire()
            if self.children or self.waiting:
                self.last_used = time.monotonic()
            elif self.closing or not self.still_ours() or self.idle():
                return
            if not self.closing and not self.still_ours():
                self.stop_listening()

    def pending(self) -> list[Pending]:
        return [k.data for k in self.selector.get_map().values() if isinstance(k.data, Pending)]

    def timeout(self) -> float:
        deadlines = [p.deadline - time.monotonic() for p in self.pending()]
        return max(0.0, min([TICK, *deadlines]))

    def expire(self) -> None:
        """A client that has not sent its request in time is let go, with its descriptors."""
        now = time.monotonic()
        for pending in self.pending():
            if pending.deadline <= now:
                self.drop(pending)

    def drop(self, pending: Pending) -> None:
        self.selector.unregister(pending.conn)
        pending.close()

    def idle(self) -> bool:
        return time.monotonic() - self.last_used > self.idle_limit

    def stop_listening(self) -> None:
        if self.closing:  # requests read before it stopped may ask again (stale code, stop)
            return
        self.closing = True
        self.pause_accepting()
        self.listener.close()
        if self.still_ours():
            os.unlink(self.name, dir_fd=self.directory)

    def pause_accepting(self) -> None:
        if self.accepting:
            self.selector.unregister(self.listener)
            self.accepting = False

    def running(self) -> int:
        """Children that count against the limit: those not yet long-running."""
        now = time.monotonic()
        return sum(1 for born in self.born.values() if now - born < LONG_RUNNING)

    def start_waiting(self) -> None:
        """Fork the waiting requests, oldest first, while the limit allows; accept again
        once there is room to hold requests."""
        while self.waiting and self.running() < self.limit:
            conn, payload, fds = self.waiting.popleft()
            if gone(conn):  # its client left while it waited: nothing to run for it
                for fd in fds:
                    os.close(fd)
                conn.close()
                continue
            self.dispatch(conn, payload, fds)
        if not self.accepting and not self.closing and len(self.waiting) < MAX_WAITING:
            self.selector.register(self.listener, selectors.EVENT_READ)
            self.accepting = True

    def accept(self) -> None:
        """Take a connection; its request is read as it arrives (`receive`). Only our own
        user is served: anyone else reaching the socket gets nothing run."""
        try:
            conn, _ = self.listener.accept()
        except OSError:  # it went away before we took it
            return
        self.last_used = time.monotonic()
        try:
            ours = relay.peer_uid(conn) == os.getuid()
        except OSError:
            ours = False
        if not ours:
            conn.close()
            return
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, Pending(conn))

    def receive(self, pending: Pending) -> None:
        try:
            whole = pending.read()
        except BlockingIOError:
            return
        except (OSError, ValueError):
            self.drop(pending)
            return
        if whole:
            self.selector.unregister(pending.conn)
            pending.conn.settimeout(5)
            payload = pending.data[4:]
            if payload.startswith(b"ctl:"):  # never waits behind commands
                self.dispatch(pending.conn, payload, pending.fds)
                return
            self.waiting.append((pending.conn, payload, pending.fds))
            if len(self.waiting) >= MAX_WAITING:
                self.pause_accepting()

    def dispatch(self, conn: socket.socket, payload: bytes, fds: list[int]) -> None:
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
            self.born[pidfd] = time.monotonic()
            self.peak = max(self.peak, len(self.children))
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
            conn.sendall(f"{os.getpid()} {len(self.children)} {self.served} {up:.0f} "
                         f"{self.limit} {self.peak} {len(self.waiting)}".encode())  # fmt: skip
        elif payload == b"ctl:stop":
            conn.sendall(f"{os.getpid()}".encode())
            self.stop_listening()

    def forward(self, pidfd: int) -> None:
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
        self.born.pop(pidfd, None)
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


def main(path: str, runner: Runner, preload: Callable[[], None]) -> int:
    """Serve on `path` until idle, replaced or stale. `preload` imports what the served
    commands use, so a child only does the work; `runner` runs one command line in it."""
    if path != relay.socket_path():  # the one place ttal's commands look for it
        sys.stderr.write(f"ttal server: serves only on {relay.socket_path()}, not {path}\n")
        return int(Exit.USAGE)
    directory = relay.open_dir(create=True)
    if directory is None:
        sys.stderr.write(f"ttal server: {relay.runtime_dir()} is not ours alone; not serving\n")
        return int(Exit.ERROR)
    lock = relay.open_lock(directory)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return int(Exit.OK)  # another server is starting or running
    os.chdir("/")  # pin no directory a user may want to remove
    preload()
    server = Server(directory, relay.socket_name(), runner)
    server.lock = lock
    server.bind()
    try:
        server.serve()
    finally:
        if server.still_ours():
            os.unlink(server.name, dir_fd=directory)
    return int(Exit.OK)
