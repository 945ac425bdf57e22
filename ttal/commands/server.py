"""`ttal server status|start|stop`: the warm server that runs hot commands (ttal/warm/),
reached through ttal.adapters.relay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ttal.adapters import poll, relay


@dataclass(frozen=True)
class ServerState:
    enabled: bool
    socket: str
    running: bool
    pid: int = 0
    commands_running: int = 0
    commands_served: int = 0
    uptime_s: int = 0
    max_children: int = 0  # TTAL_SERVER_CHILDREN when it started
    peak_children: int = 0  # the most commands it ran at once
    commands_waiting: int = 0  # requests waiting for a free child, in order
    refused: bool = False  # the runtime dir is not ours alone: no server is used

    def as_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {"enabled": self.enabled, "socket": self.socket,
                                "running": self.running}  # fmt: skip
        if self.running:
            info.update(pid=self.pid, commands_running=self.commands_running,
                        commands_served=self.commands_served, uptime_s=self.uptime_s,
                        commands_waiting=self.commands_waiting,
                        max_children=self.max_children,
                        peak_children=self.peak_children)  # fmt: skip
        else:
            info["refused"] = self.refused
        return info


@dataclass(frozen=True)
class Stopped:
    socket: str
    stopped: bool
    pid: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"socket": self.socket, "stopped": self.stopped, "pid": self.pid}


def status() -> ServerState:
    answer = relay.control("status")
    if not answer:
        refused = relay.refused()
        return ServerState(relay.enabled(), relay.socket_path(), False, refused=refused)
    pid, running, served, uptime, *more = (int(x) for x in answer.split())
    limit, peak, waiting = [*more, 0, 0, 0][:3]  # a server older than the limit: none
    return ServerState(relay.enabled(), relay.socket_path(), True, pid, running, served, uptime,
                       limit, peak, waiting)  # fmt: skip


def start(wait: float = 10) -> ServerState:
    """Start one (if none runs) and wait until it answers."""
    if not relay.enabled() or relay.refused():
        return status()
    relay.start_server()
    poll.until(lambda: relay.control("status") is not None, wait)
    return status()


def stop() -> Stopped:
    """It stops taking commands at once and leaves when the ones running are done."""
    answer = relay.control("stop")
    return Stopped(relay.socket_path(), answer is not None, int(answer) if answer else None)


def served_count() -> int:
    """How many commands the running server has served; 0 when none runs."""
    return status().commands_served
