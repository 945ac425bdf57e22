"""Hand a command to a warm ttal server (ttal/server.py) instead of importing ttal.

Starting Python and importing ttal costs 100-150 ms; agents call `ttal go`, `ttal send`,
`ttal report` all the time. The server has everything imported and forks a child per
command. The child takes this process's argv, environment, cwd, umask and its stdin,
stdout and stderr themselves (passed over the socket), so it behaves exactly as if ttal had
run here; this process only waits, forwards ^C and friends, and exits with its code.

Only C modules are imported here: `socket` pulls in enum and costs ~5 ms.
"""

from __future__ import annotations

import os
import sys

# Commands whose work is short and needs no controlling terminal (attach, demo and watch
# stay in-process: they own the terminal or run for hours).
SERVED = frozenset(("go", "send", "alert", "report", "ack", "review", "approve", "status",
                    "agents", "inbox", "deliver", "heartbeat", "context", "diary", "journal",
                    "recover"))  # fmt: skip
PROTOCOL = b"ttal1"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes
NOT_SERVED = None


def enabled() -> bool:
    return os.environ.get("TTAL_SERVER", "on") != "off"


def runtime_dir() -> str:
    base = os.environ.get("TTAL_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return os.path.join(base, f"ttal-{os.getuid()}")


def socket_path() -> str:
    """One server per interpreter and ttal checkout: another venv's server must not answer."""
    import zlib

    here = os.path.dirname(os.path.abspath(__file__))
    directory = runtime_dir()
    key = zlib.crc32(f"{sys.executable}\0{here}".encode("utf-8", "surrogateescape"))
    path = os.path.join(directory, f"server-{key:08x}.sock")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:  # the kernel's limit for a Unix socket
        key = zlib.crc32(os.fsencode(path))
        path = os.path.join(f"/tmp/ttal-{os.getuid()}", f"server-{key:08x}.sock")
    return path


def safe_dir(path: str) -> bool:
    """Ours alone: in a shared /tmp, another user's planted socket must not get our fds."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o077


def request(args: list[str]) -> bytes:
    umask = os.umask(0o022)
    os.umask(umask)
    fields = [PROTOCOL, os.getcwdb(), str(umask).encode(), str(len(args)).encode()]
    fields += [os.fsencode(arg) for arg in args]
    fields += [k + b"=" + v for k, v in os.environb.items()]
    return b"\0".join(fields)


def run(args: list[str]) -> int | None:
    """The command's exit code, or None when no server took it (then run it here)."""
    if not enabled() or not args or args[0] not in SERVED or _needs_foreground(args):
        return NOT_SERVED
    path = socket_path()
    if not safe_dir(os.path.dirname(path)):
        return NOT_SERVED
    import _socket
    from array import array

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        payload = request(args)
        fds = array("i", [0, 1, 2]).tobytes()
        _conn[:] = [sock]
        _catch_signals()
        sock.sendmsg(
            [len(payload).to_bytes(4, "big") + payload],
            [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)],
        )
        return _wait(sock)
    except (OSError, ValueError):  # no server, a closed stdio fd, a cwd that is gone
        return _lost() if _child["pid"] else _not_served()
    finally:
        sock.close()


def _needs_foreground(args: list[str]) -> bool:
    """The child is not in the terminal's foreground process group: it would be stopped
    reading the terminal (`ttal ack -` typed by hand), or writing to it under `stty tostop`."""
    if "-" in args and os.isatty(0):
        return True
    for fd in (1, 2):
        if os.isatty(fd):
            import termios

            try:
                return bool(termios.tcgetattr(fd)[3] & termios.TOSTOP)
            except termios.error:
                return True
    return False


# The child's pid once it is known, the connection, and signals that came before the pid.
_child = {"pid": 0}
_conn: list[object] = []
_pending: list[int] = []


def _catch_signals() -> None:
    import _signal  # type: ignore[import-not-found]  # signal itself imports enum

    def forward(signum: int, _frame: object) -> None:
        if not _child["pid"]:
            _pending.append(signum)
            return
        _relay(signum)

    for sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT):
        _signal.signal(sig, forward)


def _relay(signum: int) -> None:
    """The server signals the child through its pidfd: inside a sandbox (Codex's review
    leads) the child's pid may name another process."""
    try:
        _conn[0].send(b"K" + signum.to_bytes(4, "big"))  # type: ignore[attr-defined]
    except OSError:
        return  # the server is gone; `_wait` says so


def _not_served() -> int | None:
    """Nothing ran on the server. A ^C meanwhile means: do not run it here either."""
    if _pending:
        sys.stderr.write("ttal: interrupted\n")
        return 130
    import _signal

    for sig in (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT):
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    return NOT_SERVED


def _recv(sock: object, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))  # type: ignore[attr-defined]
        if not chunk:
            break
        data += chunk
    return data


def _wait(sock: object) -> int | None:
    """The child says P<pid> before it runs anything, the server X<code> after it exits.
    Before P nothing ran, so running here instead is safe; after P it is not."""
    hello = _recv(sock, 5)
    if len(hello) < 5 or hello[:1] != b"P":
        return _not_served()  # stale server (S) or one that died before forking
    _child["pid"] = int.from_bytes(hello[1:], "big")
    for signum in _pending:  # ^C before the child existed: it gets it first thing
        _relay(signum)
    done = _recv(sock, 5)
    if len(done) < 5 or done[:1] != b"X":
        return _lost()
    return int.from_bytes(done[1:], "big", signed=True)


def _lost() -> int:
    """The child ran, so running it here too could do the work twice: say so instead."""
    sys.stderr.write(
        f"ttal: lost the ttal server while it ran the command (pid {_child['pid']}); its "
        "work may be done or half done\n  hint: `ttal status` shows where things stand; "
        "`ttal recover` settles anything interrupted\n"
    )
    return 15  # Exit.EXTERNAL, without importing ttal.errors


def start_server() -> None:
    """Start a server in the background for the next command; this one runs here.
    A server already starting holds the lock: then do nothing."""
    import fcntl

    path = socket_path()
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not safe_dir(directory):
            return
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # a server holds it: running or starting
    finally:
        os.close(fd)
    # Imported here, not above: the command that starts a server runs in this process next,
    # and that imports subprocess anyway; a served command never gets here.
    from ttal.adapters import proc

    try:
        proc.start_detached([sys.executable, "-m", "ttal.warm.server", path])
    except OSError:
        return


def control(verb: str) -> str | None:
    """Ask the server for `status` or `stop`; its answer, or None when none is running."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(socket_path())
        payload = b"ctl:" + verb.encode()
        sock.sendall(len(payload).to_bytes(4, "big") + payload)
        return _recv(sock, 64).decode()
    except OSError:
        return None
    finally:
        sock.close()
