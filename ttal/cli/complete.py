"""Shell completion values: task ids, agent names and session names.

The shell asks while a person types (`ttal --install-completion` sets it up for bash or zsh);
an answer must come fast and never print an error, so each source gives nothing on any
failure (no config yet, Taskwarrior or tmux missing).
"""

from __future__ import annotations

from collections.abc import Callable

Pairs = list[tuple[str, str]]


def _quiet(source: Callable[[], Pairs], incomplete: str) -> Pairs:
    try:
        return [(value, why) for value, why in source() if value.startswith(incomplete)]
    except Exception:  # completion shows nothing rather than a traceback in the prompt
        return []


def _tasks() -> Pairs:
    from ttal.cli.base import _app

    rows = _app().tw.export("status:pending")
    return [(str(t["id"]), str(t.get("description", ""))[:60]) for t in rows if t.get("id")]


def _agents() -> Pairs:
    from ttal.cli.base import _app

    return [(name, agent.role) for name, agent in _app().cfg.agents.items()]


def _sessions() -> Pairs:
    from ttal.cli.base import _app

    return [(name, "session") for name in _app().tmux.sessions()]


def task_ids(incomplete: str) -> Pairs:
    return _quiet(_tasks, incomplete)


def agent_names(incomplete: str) -> Pairs:
    return _quiet(_agents, incomplete)


def session_names(incomplete: str) -> Pairs:
    return _quiet(_sessions, incomplete)


def recipients(incomplete: str) -> Pairs:
    """Who a message can go to: agents, live sessions, and the person."""
    found = dict(_quiet(_agents, incomplete) + _quiet(_sessions, incomplete))
    if "human".startswith(incomplete):
        found.setdefault("human", "you")
    return list(found.items())
