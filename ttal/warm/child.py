"""The warm server's child: it becomes the client's process (its descriptors, environment,
cwd and umask) and runs one command (ttal/warm/server.py forks it)."""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from ttal.errors import Exit
from ttal.warm.client import PROTOCOL


class Closable(Protocol):
    def close(self) -> None: ...


class Server(Protocol):
    """What a child closes of the server it was forked from (ttal.warm.server.Server)."""

    @property
    def runner(self) -> Callable[[list[str]], int]: ...
    @property
    def selector(self) -> Closable: ...
    @property
    def listener(self) -> Closable: ...
    @property
    def lock(self) -> int: ...
    @property
    def directory(self) -> int: ...
    @property
    def children(self) -> Mapping[int, tuple[int, socket.socket]]: ...
    @property
    def waiting(self) -> Iterable[tuple[socket.socket, bytes, list[int]]]: ...
    def pending(self) -> Sequence[Closable]: ...


def child(conn: socket.socket, payload: bytes, fds: list[int], server: Server) -> None:
    """Become the client's process: its fds, env, cwd and umask; then run the command."""
    code = int(Exit.BUG)
    try:
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for pending in server.pending():  # other clients' stdio is not this child's to keep
            pending.close()
        for other, _, others_fds in server.waiting:
            for fd in others_fds:
                os.close(fd)
            other.close()
        server.selector.close()
        server.listener.close()
        os.close(server.lock)
        os.close(server.directory)
        for pidfd, (_, other) in server.children.items():
            os.close(pidfd)
            other.close()
        args = adopt(payload, fds)
        conn.sendall(b"P" + os.getpid().to_bytes(4, "big"))
        conn.close()
        code = server.runner(args)  # errors become exit codes in there, as in-process
    except BaseException:  # never return into the server's loop
        import traceback

        traceback.print_exc()
        code = int(Exit.BUG)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code & 0xFF)


def gone(conn: socket.socket) -> bool:
    """Has the client hung up? It sends nothing before its child exists, so anything to
    read here is its end of file. Never waits: the socket has a timeout, under which even
    MSG_DONTWAIT would first wait for data."""
    ready = select.poll()
    ready.register(conn, select.POLLIN)
    if not ready.poll(0):
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


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
