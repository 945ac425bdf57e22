"""Where the warm server listens, and how to reach it from outside the warm package.

The warm server (ttal/warm/) keeps ttal imported and runs hot commands in forked children.
Other layers need a few things from it: `ttal server status|start|stop`, `ttal doctor`'s
report, the demo's count of served commands, and the Codex review lead's launch, which
starts a server before the sandbox closes (DESIGN.md decision 11). They reach it here,
never through ttal.warm.

Only C modules are imported here: the warm client imports this on every command.
"""

from __future__ import annotations

import os
import sys

MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes
SERVE = "ttal.serve"  # the server's process entry: python -m ttal.serve SOCKET


def enabled() -> bool:
    return os.environ.get("TTAL_SERVER", "on") != "off"


def runtime_dir() -> str:
    base = os.environ.get("TTAL_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return os.path.join(base, f"ttal-{os.getuid()}")


def socket_path() -> str:
    """One server per interpreter and ttal checkout: another venv's server must not answer."""
    import zlib

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the ttal package
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
        proc.start_detached([sys.executable, "-m", SERVE, path])
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
        return recv(sock, 64).decode()
    except OSError:
        return None
    finally:
        sock.close()


def recv(sock: object, n: int) -> bytes:
    """Up to n bytes: fewer only when the other end closed."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))  # type: ignore[attr-defined]
        if not chunk:
            break
        data += chunk
    return data
