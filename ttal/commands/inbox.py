"""`ttal inbox [AGENT]`: an agent's or a person's messages, newest last; and `ttal ack`, a
recipient saying which of them it has read."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from ttal.adapters.store.messages import Message
from ttal.commands.send import SESSION_RE
from ttal.engine import mesh
from ttal.engine.app import App
from ttal.errors import NotFound, UsageError


@dataclass(frozen=True)
class Entry:
    message: Message
    status: str  # read, unread (a person's), delivered or queued

    def as_dict(self) -> dict[str, Any]:
        when = time.strftime("%m-%d %H:%M:%S", time.localtime(self.message.ts))
        return {**self.message.as_dict(), "when": when, "status": self.status}


@dataclass(frozen=True)
class Inbox:
    agent: str
    messages: list[Entry]  # oldest first

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "messages": [m.as_dict() for m in self.messages]}


@dataclass(frozen=True)
class Acked:
    agent: str
    acked: list[int]
    new: int  # how many of them it had not acknowledged before

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "acked": self.acked, "new": self.new}


def inbox(app: App, agent: str, unread_only: bool, limit: int) -> Inbox:
    name = agent or ("human" if app.caller.is_person else app.caller.name)
    if agent:
        _check_known(app, agent)
    # --unread filters before the limit: an unread message older than the newest `limit`
    # messages is still unread.
    messages = app.state.messages(name, limit=0 if unread_only else limit)
    if unread_only:
        messages = [m for m in messages if not (m.read or (m.delivered and name != "human"))]
        messages = messages[-limit:] if limit else messages
    entries = [Entry(m, _status(m, name)) for m in messages]
    if name == "human" and app.caller.is_person:
        app.state.mark_read([m.id for m in messages])  # a person has now seen them
    return Inbox(name, entries)


def _check_known(app: App, name: str) -> None:
    """A typo (`ttal inbox mangr`) showed an empty inbox, as if nothing had come."""
    if name == "human" or name in app.cfg.agents or SESSION_RE.match(name):
        return
    if app.state.messages(name, limit=1):
        return  # an agent since removed from the config: its messages are still there
    known = ", ".join(sorted(n for n, a in app.cfg.agents.items() if a.persistent))
    raise NotFound(
        f"no agent {name!r} and no messages to it",
        hint=f"an inbox is a manager's ({known or 'none configured'}), a session's (w-…) or human",
    )


def _status(message: Message, name: str) -> str:
    if message.read:
        return "read"
    if name == "human":
        return "unread"
    return "delivered" if message.delivered else "queued"


def ack(app: App, words: list[str], agent: str = "") -> Acked:
    """Words are ids (`12` or `#12`), or `-`: read text (a prompt, or the JSON Claude Code's
    UserPromptSubmit hook gets) and take the ids of the messages it holds."""
    name = agent or ("" if app.caller.is_person else app.caller.name)
    if not name:
        raise UsageError("who? run inside an agent session, or pass --agent NAME")
    ids: set[int] = set()
    for word in words:
        if word == "-":
            ids.update(_received(app, name, _prompt(sys.stdin.read())))
        elif word.lstrip("#").isdigit():
            ids.add(int(word.lstrip("#")))
        else:
            raise UsageError(f"{word!r} is not a message id", hint="e.g. `ttal ack 12 13`")
    new = mesh.ack(app, sorted(ids), name)
    return Acked(name, sorted(ids), new)


def _prompt(text: str) -> str:
    """The prompt in a hook's JSON ({"hook_event_name": "UserPromptSubmit", "prompt": ...});
    any other text as it is."""
    if not text.lstrip().startswith("{"):
        return text
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return text
    prompt = data.get("prompt") if isinstance(data, dict) else None
    return prompt if isinstance(prompt, str) else text


def _received(app: App, name: str, prompt: str) -> list[int]:
    """Messages to `name` whose header line is in the prompt with their own sender: a
    header quoted from elsewhere (another agent's message, a log) acknowledges nothing."""
    found = []
    for message_id, sender in mesh.headers_in(prompt):
        message = app.state.message(message_id)
        if message is not None and message.recipient == name and message.sender == sender:
            found.append(message_id)
    return found
