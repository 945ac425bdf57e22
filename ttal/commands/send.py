"""`ttal send` between managers and people, and `ttal alert` from a worker to its spawner.

The hierarchy: managers and people send to anyone; a worker or review lead talks only
upward, to the manager (or person) that spawned its task.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from ttal.engine import mesh
from ttal.engine.app import App
from ttal.errors import Forbidden, NotFound, PreconditionFailed, UsageError

SESSION_RE = re.compile(r"^[wr]-[0-9a-f]{8}(-[A-Za-z0-9_]+)?$")


@dataclass(frozen=True)
class Sent:
    """A message stored (and maybe delivered), or a resend dropped (id 0, `duplicate`)."""

    id: int
    to: str
    status: str  # delivered, queued or duplicate
    detail: str
    file: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "to": self.to, "status": self.status,
                                "detail": self.detail}  # fmt: skip
        if self.status != "duplicate":
            data["file"] = self.file
        return data


def read_body(message: str | None) -> str:
    if message is None or message == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("no message: give it as an argument, or pipe it in with `-`")
        # Like $(...) in a shell, drop the newline that ends piped text: `echo hi |` means "hi".
        message = _stdin_text().removesuffix("\n")
    elif not is_text(message):
        raise _not_text("invalid UTF-8 in the argument")
    if "\0" in message:
        raise _not_text("it contains a NUL byte")
    if not message.strip():
        raise PreconditionFailed("the message is empty; nothing was sent")
    return message


def _stdin_text() -> str:
    """Bytes decoded strictly: the text layer's surrogateescape (a C locale) let invalid
    UTF-8 through as lone surrogates, which SQLite then refused with a traceback."""
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # a str-only stdin (replaced in-process): already text
        return sys.stdin.read()
    data: bytes = raw.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_text(f"invalid UTF-8 at byte {err.start}") from None


def is_text(message: str) -> bool:
    """False for an argument with bytes that are not UTF-8 (Python keeps them as lone
    surrogates)."""
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_text(why: str) -> PreconditionFailed:
    return PreconditionFailed(
        f"the message is not UTF-8 text ({why}); nothing was sent",
        hint="send text: for binary data, send the path of a file that holds it",
    )


def send(app: App, to: str, body: str, key: str = "") -> Sent:
    to = to.strip()
    if app.caller.role in ("worker", "reviewer"):
        spawner = _spawner(app)
        if to != spawner:
            raise Forbidden(
                f"a {app.caller.role} talks only to the one that spawned its task ({spawner}); "
                f"nothing was sent to {to!r}",
                hint='use `ttal alert "<what you need>"`: it goes to your spawner',
            )
    _check_recipient(app, to)
    if to == app.caller.name:
        raise PreconditionFailed(f"{to} cannot send to itself; nothing was sent")
    return _post_and_deliver(app, to, body, key, task=app.caller.task)


def alert(app: App, body: str, key: str = "") -> Sent:
    if app.caller.role not in ("worker", "reviewer"):
        raise Forbidden(
            "`ttal alert` is for workers and review leads, to reach their spawner",
            hint="managers and people use `ttal send --to NAME`",
        )
    spawner = _spawner(app)
    result = _post_and_deliver(app, spawner, body, key, task=app.caller.task)
    if result.id:
        first = body.strip().splitlines()[0][:200]
        app.tw.annotate(app.caller.task, f"alert from {app.caller.name} to {spawner}: {first}")
    return result


def _spawner(app: App) -> str:
    task = app.tw.get(app.caller.task) if app.caller.task else {}
    return str(task.get("ttal_spawner") or "human")


def _check_recipient(app: App, to: str) -> None:
    if to == "human":
        return
    if to in app.cfg.agents:
        agent = app.cfg.agents[to]
        if not agent.persistent:
            raise NotFound(
                f"{to} is a {agent.role} template, not a running agent",
                hint="send to a worker by its session name (w-1a2b3c4d); `ttal status` lists them",
            )
        return
    if SESSION_RE.match(to) and _task_session_exists(app, to):
        return
    known = sorted(n for n, a in app.cfg.agents.items() if a.persistent)
    raise NotFound(
        f"unknown recipient {to!r}; nothing was sent",
        hint=f"send to a manager ({', '.join(known) or 'none configured'}), "
        "a worker session (w-…), or human",
    )


def _task_session_exists(app: App, name: str) -> bool:
    field = "ttal_session" if name.startswith("w-") else "ttal_reviewer"
    return bool(app.tw.export("status:pending", f"{field}:{name}"))


def _post_and_deliver(app: App, to: str, body: str, key: str, task: str) -> Sent:
    # A --key is its sender's, per recipient: two senders (or one sender writing to two
    # recipients) who pick the same key must not drop each other's messages.
    scoped = f"send:{app.caller.name}:{to}:{key}" if key else ""
    message_id = mesh.post(app, to, body, key=scoped, task=task)
    if not message_id:
        return Sent(0, to, "duplicate", "a resend; not sent again")
    delivered = mesh.deliver(app, to) > 0
    message = app.state.message(message_id)
    status = "delivered" if message and message.delivered else "queued"
    return Sent(message_id, to, status, _why(app, to, delivered), message.file if message else "")


def _why(app: App, to: str, delivered: bool) -> str:
    if to == "human":
        return "in `ttal inbox human`" + (
            " and sent to the notify command" if app.cfg.notify else ""
        )
    if delivered:
        return f"typed into {to}'s session"
    if not app.tmux.has(to):
        return f"{to} is offline; delivered on `ttal up {to}`"
    if mesh.is_busy(app, to):
        status = app.state.status(to)
        if status is not None and status.state == "starting":
            return f"{to} is starting; delivered when it is ready"
        return f"{to} is busy; delivered when it is idle"
    return "queued"


def run_send(to: str, message: str | None, key: str) -> Sent:
    return send(App.load(), to, read_body(message), key)


def run_alert(message: str | None, key: str) -> Sent:
    return alert(App.load(), read_body(message), key)
