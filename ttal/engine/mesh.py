"""Messages between agents and people: stored first, delivered in order, never twice.

Every message is written to ttal's SQLite state before any delivery is tried. Delivery types
it into the recipient's pane as literal text (a tmux paste buffer: no key names, no shell).
An offline or busy recipient's messages wait in the queue; they go out in order when it can
take them: on `ttal up`, when its runtime reports idle, or from `ttal deliver`.

"Delivered" means typed into a live pane; a program killed a moment later never reads it.
A recipient that acknowledges what it has read (`ttal ack`, e.g. from a runtime hook) gets
exactly-once across restarts: what was typed into a pane that died unacknowledged is typed
again into the next one, and the recipient drops ids it has already seen.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import unicodedata
from pathlib import Path

from ttal import faults
from ttal.adapters import locks, proc
from ttal.adapters.store.agents import AgentStatus
from ttal.adapters.store.messages import Message
from ttal.adapters.tmux import Pane
from ttal.engine.app import App
from ttal.errors import ExternalError, TtalError

INLINE_BYTES = 2048  # a larger body is stored as a file; the pane gets a preview and the path
INLINE_LINE = 1000  # a tty in canonical mode truncates lines past 4095 bytes
PREVIEW_LINES = 6
STARTING_LIMIT = 20.0  # seconds; longer than `ttal up` waits for a program to be ready
# A recipient held busy after a piece of its backlog (_wait_for_turn) whose runtime never
# says idle again gets the next piece after this long all the same (a later delivery pass).
PIECE_SOURCE, PIECE_LIMIT = "delivery", 60.0
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
# A whole header line, as _render_one writes it: a body cannot forge one (_defang quotes it).
HEADER = re.compile(r"^\[ttal #(\d+) from ([^\s\]]+)(?: re task [0-9a-f]+)?\]\r?$", re.M)
# What _defang quotes: the starts of ttal's own header and footers, spaces taken out.
OURS = ("[ttal#", "[replywith:", "[fromttalitself")
LINE_SEPARATORS = re.compile("([\u2028\u2029])")


def digest(sender: str, recipient: str, body: str) -> str:
    return hashlib.sha256(f"{sender}\0{recipient}\0{body}".encode()).hexdigest()[:32]


def post(
    app: App, recipient: str, body: str, key: str = "", task: str = "", sender: str = ""
) -> int:
    """Store a message. Returns its id, or 0 when it is a resend (same key, or the same
    sender, recipient and body within the resend window)."""
    sender = sender or app.caller.name
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    sha = "" if key else digest(sender, recipient, body)
    # The file is written before the row exists: a delivery racing this post must never
    # see a big message without its file and type it all in (a tty truncates long lines).
    file = _store_big(app, body) if _too_big(body) else None
    message_id = app.state.add_message(
        sender, recipient, body, key or f"auto:{sha}:{time.time_ns()}", task, sha, str(file or "")
    )
    if not message_id and file:
        file.unlink(missing_ok=True)
    return message_id


def _store_big(app: App, body: str) -> Path:
    path = app.cfg.state_dir / "messages" / f"{time.time_ns()}-{os.urandom(4).hex()}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def tell(app: App, recipient: str, body: str, key: str, task: str = "", sender: str = "") -> bool:
    """Post and try to deliver at once. False if `key` was used before: nothing twice."""
    if not post(app, recipient, body, key, task, sender):
        return False
    deliver(app, recipient)
    return True


def _too_big(body: str) -> bool:
    lines = body.split("\n")
    return len(body.encode()) > INLINE_BYTES or any(len(line) > INLINE_LINE for line in lines)


def deliver(app: App, recipient: str) -> int:
    """Deliver `recipient`'s queue, oldest first, if it can take it, in bounded pieces
    (config `delivery:`), each typed in and recorded before the next. Returns how many.
    It reads the recipient's state and the head of its queue, never the whole queue."""
    if recipient == "human":
        return _deliver_to_person(app)
    with locks.held(_lock(app, recipient)):
        if is_busy(app, recipient):
            return 0
        since = app.state.acking_since(recipient)
        unacked = since is not None and app.state.has_unacked(recipient, since)
        if not (unacked or app.state.queue_head(recipient, 1)):
            return 0
        pane = app.tmux.agent_pane(recipient)
        if pane is None:
            return 0
        if since is not None:
            _requeue_lost(app, recipient, pane, since)
        done = 0
        while piece := _next_piece(app, pane, recipient):
            hold = _hold_for_piece(app, recipient)
            if not _paste_piece(app, pane, piece):
                _release(app, hold)
                break  # still queued
            done += len(piece)
            if _wait_for_turn(app, recipient, hold):
                break
        return done


def _next_piece(app: App, pane: Pane, recipient: str) -> list[Message]:
    """The head of the queue, at most `delivery.max_messages` messages and `max_bytes`
    bytes (always one, whatever its size); [] when the queue is empty."""
    limits = app.cfg.delivery
    while queue := app.state.queue_head(recipient, limits.max_messages):
        queue = _drop_already_landed(app, pane, queue)
        if not queue:
            continue  # the whole head had landed before a crash: look at the next
        size, piece = 0, list[Message]()
        for message in queue:
            size += len(_render_one(app, message).encode()) + 1
            if piece and size > limits.max_bytes:
                break
            piece.append(message)
        return piece
    return []


def _paste_piece(app: App, pane: Pane, piece: list[Message]) -> bool:
    ids = [m.id for m in piece]
    # A fresh mark per attempt, stored before the paste and set on the pane by the paste
    # itself: after a crash it proves whether this paste went in. Text on the screen
    # never could: a body may carry any header (issue 15: messages lost that way).
    attempt = os.urandom(8).hex()
    app.state.mark_attempted(ids, attempt)
    faults.point("deliver.attempted")
    try:
        app.tmux.paste(pane.id, render(app, piece), mark=attempt)
    except TtalError:
        return False
    faults.point("deliver.pasted")
    app.state.mark_delivered_many(ids, pane.incarnation)
    return True


def _hold_for_piece(app: App, recipient: str) -> AgentStatus | None:
    """A recipient whose runtime reports idle and busy is marked busy before a piece goes
    in, not after: a runtime that reads the piece and says idle at once (a fast turn) then
    overwrites the hold rather than being overwritten by it and kept waiting PIECE_LIMIT.
    The hold, or None for one that reports nothing (its terminal reads pieces in order)."""
    status = app.state.status(recipient)
    if status is None or status.source != "runtime" or status.state != "idle":
        return None
    if not app.state.replace_status(status, "busy", PIECE_SOURCE):
        return None  # a report came in just now; is_busy was read before it
    return app.state.status(recipient)


def _wait_for_turn(app: App, recipient: str, hold: AgentStatus | None) -> bool:
    """After a piece: True when the rest must wait. Pieces typed in back to back would
    reach an agent as one huge prompt all the same, so one whose runtime reports is held
    until it says idle again (that report delivers the next piece); one that reports
    nothing gets the next piece at once."""
    if hold is None:
        return False
    if not app.state.queue_head(recipient, 1):
        _release(app, hold)  # nothing left: a later message need not wait for a report
        return False
    now = app.state.status(recipient)
    if now == hold:
        return True  # its next idle delivers the rest
    return now is not None and now.state != "idle"  # it has spoken since: idle means read


def _release(app: App, hold: AgentStatus | None) -> None:
    if hold is not None:
        app.state.replace_status(hold, "idle", "runtime")


def _lock(app: App, recipient: str) -> Path:
    return app.lock_dir / f"deliver-{hashlib.sha1(recipient.encode()).hexdigest()[:12]}.lock"


def _requeue_lost(app: App, recipient: str, pane: Pane, since: float) -> None:
    """Messages typed into an earlier pane of an acknowledging recipient and never
    acknowledged died with that pane's program: queue them again, in their old order."""
    lost = app.state.unacked_elsewhere(recipient, since, pane.incarnation)
    if lost:
        app.state.requeue(lost)
        app.state.event("requeued", "", "ttal", f"{recipient}: {lost}")


def _drop_already_landed(app: App, pane: Pane, queue: list[Message]) -> list[Message]:
    """A message whose paste was attempted before a crash went in if the pane carries that
    attempt's mark: mark it delivered rather than type it twice. A pane that died since
    carries no mark, so its messages are typed into the new one."""
    tried = [m for m in queue if m.attempt]
    if not tried:
        return queue
    mark = app.tmux.landed(pane.id)
    landed = [m.id for m in tried if m.attempt == mark]
    app.state.mark_delivered_many(landed, pane.incarnation)
    return [m for m in queue if m.id not in landed]


def _deliver_to_person(app: App) -> int:
    # Under the lock: two deliveries at once would run the notify command twice.
    with locks.held(_lock(app, "human")):
        done = 0
        while queue := app.state.queue_head("human", app.cfg.delivery.max_messages):
            for message in queue:
                _run_notify(app, message)
                app.state.mark_delivered_many([message.id])
            done += len(queue)
        return done


def ack(app: App, ids: list[int], agent: str = "") -> int:
    """`agent` (default: the caller) has read messages `ids`. Calling it at all, even with
    no ids, declares the agent an acknowledging recipient. Returns how many were new."""
    name = agent or app.caller.name
    app.state.declare_acking(name)
    return app.state.ack(name, ids)


def headers_in(text: str) -> list[tuple[int, str]]:
    """(id, sender) of each message header line in `text` (a prompt a runtime hook got)."""
    return [(int(n), sender) for n, sender in HEADER.findall(text)]


def _run_notify(app: App, message: Message) -> None:
    if not app.cfg.notify:
        return
    text = f"[ttal] from {message.sender}: {message.body}"
    try:  # a shell line from ttal.yaml, as `subprocess.run(shell=True)` would run it
        proc.run(["/bin/sh", "-c", app.cfg.notify], stdin=text, timeout=10)
    except (OSError, ExternalError) as err:  # no shell, or it took longer than 10 s
        app.state.event("notify-failed", message.task, "ttal", f"{app.cfg.notify}: {err}")


def is_busy(app: App, agent: str) -> bool:
    """Only an explicit busy (or waiting) signal from the runtime queues; no signal means
    type away.
    `ttal up` also holds deliveries while the program starts (status "starting"); a start
    that never finished (its `up` was killed) holds them no longer than STARTING_LIMIT."""
    status = app.state.status(agent)
    if status is None:
        return False
    if status.state == "starting":
        return time.time() - status.since < STARTING_LIMIT
    if status.source == PIECE_SOURCE:
        return time.time() - status.since < PIECE_LIMIT
    return status.state in ("busy", "waiting")  # waiting: typing would answer its dialog


def sanitize(text: str) -> str:
    """Control characters would act in the recipient's terminal (^C interrupts, ESC starts a
    sequence, and could end a bracketed paste early): show them in caret notation instead."""
    return CONTROL.sub(_caret, text)


def _caret(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code >= 0x80:  # C1: as `cat -v` shows the byte
        return "M-^" + chr(code - 0x80 + 64)
    return "^" + chr((code + 64) % 128)


def render(app: App, queue: list[Message]) -> str:
    return "\n".join(_render_one(app, m) for m in queue)


def _render_one(app: App, message: Message) -> str:
    body = message.body
    if message.file:
        lines = body.split("\n")
        preview = [line[:200] for line in lines[:PREVIEW_LINES]]
        size = len(body.encode())
        body = "\n".join(
            [
                *preview,
                f"[… {len(lines)} lines, {size} bytes in all; read the file: {message.file}]",
            ]
        )
    about = f" re task {message.task[:8]}" if message.task else ""
    header = f"[ttal #{message.id} from {message.sender}{about}]"
    return f"{header}\n{_defang(sanitize(body))}\n{_hint(app, message)}"


def _defang(body: str) -> str:
    """A body line that looks like ttal's own header could forge a message from someone else
    (or ack another message's id): quote it. "Looks like" as a reader sees it: after an
    invisible prefix, with look-alike characters, and after a Unicode line separator (some
    terminals and agents break the line there)."""
    return "\n".join(_defang_line(line) for line in body.split("\n"))


def _defang_line(line: str) -> str:
    parts = LINE_SEPARATORS.split(line)  # text, separator, text, ...
    return "".join(f"> {part}" if i % 2 == 0 and _looks_like_ours(part) else part
                   for i, part in enumerate(parts))  # fmt: skip


def _looks_like_ours(line: str) -> bool:
    start = 0
    while start < len(line) and _invisible(line[start]):
        start += 1
    # NFKC folds full-width and other compatibility forms: ［ｔｔａｌ ＃ reads as [ttal #.
    head = unicodedata.normalize("NFKC", line[start : start + 40])
    head = "".join(c for c in head if not _invisible(c)).casefold()
    if head and unicodedata.category(head[0]) == "Ps":  # 【, ⟦, ( and the like open it too
        head = "[" + head[1:]
    return head.startswith(OURS)


def _invisible(char: str) -> bool:
    """Whitespace, format characters (zero-width space, BOM, bidi controls: category Cf)
    and marks that draw nothing on their own (Mn, Me)."""
    return char.isspace() or unicodedata.category(char) in ("Cf", "Mn", "Me")


def _hint(app: App, message: Message) -> str:
    if message.recipient.startswith(("w-", "r-")):
        return '[reply with: ttal alert "..."]'
    if message.sender in ("ttal", ""):
        return "[from ttal itself; no reply needed]"
    return f'[reply with: ttal send --to {message.sender} "..."]'
