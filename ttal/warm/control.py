"""`ttal server status|start|stop`: the warm server that runs hot commands (ttal/server.py)."""

from __future__ import annotations

from typing import Any

from ttal.adapters import poll
from ttal.warm import client


def status() -> dict[str, Any]:
    answer = client.control("status")
    info: dict[str, Any] = {
        "enabled": client.enabled(),
        "socket": client.socket_path(),
        "running": answer is not None,
    }
    if answer:
        pid, running, served, uptime = (int(x) for x in answer.split())
        info.update(pid=pid, commands_running=running, commands_served=served, uptime_s=uptime)
    return info


def start(wait: float = 10) -> dict[str, Any]:
    """Start one (if none runs) and wait until it answers."""
    if not client.enabled():
        return status()
    client.start_server()
    poll.until(lambda: client.control("status") is not None, wait)
    return status()


def stop() -> dict[str, Any]:
    """It stops taking commands at once and leaves when the ones running are done."""
    answer = client.control("stop")
    return {"socket": client.socket_path(), "stopped": answer is not None,
            "pid": int(answer) if answer else None}  # fmt: skip
