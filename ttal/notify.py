"""Tell an agent or a person something, exactly once per key.

The message is stored before delivery is tried. A person's messages stay in `ttal inbox
human` (and run the config's `notify` command); an agent's are typed into its session when
it is running, and stay queued otherwise.
"""

from __future__ import annotations

import hashlib
import subprocess

from ttal.app import App
from ttal.errors import TtalError


def message_key(sender: str, recipient: str, body: str, scope: str = "") -> str:
    digest = hashlib.sha256(f"{sender}\0{recipient}\0{body}\0{scope}".encode()).hexdigest()
    return digest[:32]


def tell(app: App, recipient: str, text: str, key: str, task: str = "", sender: str = "") -> bool:
    """Store and try to deliver. False if `key` was already used (nothing is sent twice)."""
    sender = sender or app.caller.name
    message_id = app.state.add_message(sender, recipient, text, key, task)
    if not message_id:
        return False
    if recipient == "human":
        _run_notify_command(app, text)
        return True
    if app.tmux.has(recipient):
        try:
            app.tmux.send_text(recipient, f"[ttal] from {sender}: {text}")
            app.state.mark_delivered(message_id)
        except TtalError:
            pass  # stays queued; `ttal deliver` retries
    return True


def _run_notify_command(app: App, text: str) -> None:
    if not app.cfg.notify:
        return
    try:
        subprocess.run(
            app.cfg.notify, shell=True, input=text, text=True, timeout=10, capture_output=True
        )
    except (OSError, subprocess.SubprocessError):
        app.state.event("notify-failed", detail=app.cfg.notify)
