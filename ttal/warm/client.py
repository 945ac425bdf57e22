"""Hand a command to a warm ttal server (ttal/warm/server.py) instead of importing ttal.

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

from ttal.adapters import relay

PROTOCOL = b"ttal1"
NOT_SERVED = None


def request(args: list[str]) -> bytes:
    umask = os.umask(0o022)
    os.umask(umask)
    fields = [PROTOCOL, os.getcwdb(), str(umask).encode(), str(len(args)).encode()]
    fields += [os.fsencode(arg) for arg in args]
    fields += [k + b"=" + v for k, v in os.environb.items()]
    return b"\0".join(fields)


def run(args: list[str]) -> int | None:
    """The command's exit code, or None when no server took it (then run it here). The
    entry point asks only for commands the command table serves (ttal/cli/table.py)."""
    if not relay.enabled() or not args or _needs_foreground(args):
        return NOT_SERVED
    import _socket
    from array import array

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        relay.connect(sock)  # ours alone, or OSError: our stdio and environment go nowhere else
        payload = request(args)
        fds = array("i", [0, 1, 2]).tobytes()
        _conn[:] = [sock]
        _catch_signals()
        sock.sendmsg(
            [len(payload).to_bytes(4, "big") + payload],
            [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)],
        )
        return _wait(sock)
    except (OSError, ValueError):  # no server (ours), a closed stdio fd, a gone cwd
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
        from ttal.errors import Exit  # imports enum: only on this rare path

        sys.stderr.write("ttal: interrupted\n")
        return int(Exit.INTERRUPTED)
    import _signal

    for sig in (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT):
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    return NOT_SERVED


def _wait(sock: object) -> int | None:
    """The child says P<pid> before it runs anything, the server X<code> after it exits.
    Before P nothing ran, so running here instead is safe; after P it is not."""
    hello = relay.recv(sock, 5)
    if len(hello) < 5 or hello[:1] != b"P":
        return _not_served()  # stale server (S) or one that died before forking
    _child["pid"] = int.from_bytes(hello[1:], "big")
    for signum in _pending:  # ^C before the child existed: it gets it first thing
        _relay(signum)
    done = relay.recv(sock, 5)
    if len(done) < 5 or done[:1] != b"X":
        return _lost()
    return int.from_bytes(done[1:], "big", signed=True)


def _lost() -> int:
    """The child ran, so running it here too could do the work twice: say so instead."""
    from ttal.errors import Exit  # imports enum: only on this rare path

    sys.stderr.write(
        f"ttal: lost the ttal server while it ran the command (pid {_child['pid']}); its "
        "work may be done or half done\n  hint: `ttal status` shows where things stand; "
        "`ttal recover` settles anything interrupted\n"
    )
    return int(Exit.EXTERNAL)  # the server, outside this process, failed
