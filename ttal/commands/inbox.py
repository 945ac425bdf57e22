"""`ttal inbox [AGENT]`: an agent's or a person's messages, newest last."""

from __future__ import annotations

import time
from typing import Any

from ttal.app import App


def inbox(app: App, agent: str, unread_only: bool, limit: int) -> dict[str, Any]:
    name = agent or ("human" if app.caller.is_person else app.caller.name)
    messages = app.state.messages(name, limit=limit)
    if unread_only:
        messages = [m for m in messages if not (m.read or (m.delivered and name != "human"))]
    rows = [m.as_dict() for m in messages]
    for row in rows:
        row["when"] = time.strftime("%m-%d %H:%M:%S", time.localtime(row["ts"]))
        row["status"] = _status(row, name)
    if name == "human" and app.caller.is_person:
        app.state.mark_read([m.id for m in messages])  # a person has now seen them
    return {"agent": name, "messages": rows}


def _status(row: dict[str, Any], name: str) -> str:
    if row["read"]:
        return "read"
    if name == "human":
        return "unread"
    return "delivered" if row["delivered"] else "queued"
