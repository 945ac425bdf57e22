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
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def enabled() -> bool:
    return os.environ.get("TTAL_SERVER", "on") != "off"


def runtime_dir() -> str:
    """Where the socket lives, for people and for sessions (the real access is `open_dir`)."""
    base, parts = _layout()
    return os.path.join(base, *parts)


def _layout() -> tuple[str, list[str]]:
    """A base folder as configured, and the folders under it that ttal makes and owns:
    $TTAL_RUNTIME_DIR, else $XDG_RUNTIME_DIR (the login's own), else the user's cache (cron,
    root in a container; one folder per host, as a home may be shared), else /tmp, where
    anyone can plant the name first (then no server is used)."""
    mine = f"ttal-{os.getuid()}"
    base = os.environ.get("TTAL_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return base, [mine]
    home = os.environ.get("HOME", "")
    try:
        ours = os.path.isabs(home) and os.stat(home).st_uid == os.getuid()
    except OSError:
        ours = False  # e.g. HOME=/nonexistent for a system user; sudo keeps another's
    if ours:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
        return cache, ["ttal", "run", os.uname().nodename or "host", mine]
    return "/tmp", [mine]


def open_dir(create: bool = False) -> int | None:
    """The runtime dir, open; None when it is missing or anyone else could use it.

    Each folder ttal makes is opened without following a link, and the last must be ours
    alone, checked on the open descriptor: a name checked and then used could be swapped in
    between (a link in /tmp to another user's folder, which then got our stdio and
    environment). Callers reach files in it through the descriptor (`at`, dir_fd)."""
    base, parts = _layout()
    try:
        if create:
            os.makedirs(base, mode=0o700, exist_ok=True)
        fd = os.open(base, DIR_FLAGS)
    except OSError:
        return None
    for name in parts:
        try:
            if create:
                _mkdir(name, fd)
            child = os.open(name, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:
            child = -1
        os.close(fd)
        if child < 0:
            return None
        fd = child
    st = os.fstat(fd)
    if st.st_uid == os.getuid() and not st.st_mode & 0o077:
        return fd
    os.close(fd)
    return None


def _mkdir(name: str, parent: int) -> None:
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
    except FileExistsError:
        return  # checked when opened: ours alone, and not a link


def refused() -> bool:
    """The runtime dir is there but not ours alone (a link, another user's, open to others):
    no server is used, every command runs in-process."""
    fd = open_dir()
    if fd is not None:
        os.close(fd)
        return False
    return os.path.lexists(runtime_dir())


def open_lock(fd: int) -> int:
    """The lock file a server holds while it starts and runs, in the folder open as `fd`."""
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    return os.open(socket_name() + ".lock", flags, 0o600, dir_fd=fd)


def at(fd: int, name: str) -> str:
    """A path to `name` in the folder open as `fd`, for bind and connect, which take a path.
    The kernel resolves /proc/self/fd/N to the very folder the descriptor holds, not by its
    name again, so nothing swapped in after `open_dir` checked it changes where this leads;
    and only we can put names in that folder. It also always fits in sun_path, however long
    the folder's own path."""
    path = f"/proc/self/fd/{fd}/{name}"
    if len(path) > MAX_SOCKET_PATH:
        raise OSError(f"socket name too long: {name}")
    return path


def socket_name() -> str:
    """One server per interpreter and ttal checkout: another venv's server must not answer."""
    import zlib

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the ttal package
    key = zlib.crc32(f"{sys.executable}\0{here}".encode("utf-8", "surrogateescape"))
    return f"server-{key:08x}.sock"


def socket_path() -> str:
    return os.path.join(runtime_dir(), socket_name())


def connect(sock: object) -> None:
    """Connect `sock` to our server: in a folder only we can use, and run by us. OSError
    when there is none (or only a stranger's)."""
    fd = open_dir()
    if fd is None:
        raise OSError("no runtime dir that is ours alone")
    try:
        sock.connect(at(fd, socket_name()))  # type: ignore[attr-defined]
    finally:
        os.close(fd)
    if peer_uid(sock) != os.getuid():
        raise OSError("the server runs as another user")


def peer_uid(sock: object) -> int:
    """Who is at the other end of a Unix socket, as the kernel recorded it (SO_PEERCRED)."""
    import _socket

    cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # type: ignore[attr-defined]
    return int.from_bytes(cred[4:8], sys.byteorder)  # struct ucred: pid, uid, gid


def start_server() -> None:
    """Start a server in the background for the next command; this one runs here.
    A server already starting holds the lock: then do nothing."""
    import fcntl

    directory = open_dir(create=True)
    if directory is None:
        return  # not ours alone: commands run in-process
    try:
        fd = open_lock(directory)
    except OSError:
        return
    finally:
        os.close(directory)
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
        proc.start_detached([sys.executable, "-m", SERVE, socket_path()])
    except OSError:
        return


def control(verb: str) -> str | None:
    """Ask the server for `status` or `stop`; its answer, or None when none is running."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        connect(sock)
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
