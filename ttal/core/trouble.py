"""Trouble in the fleet, for `ttal insights`: when agents were dead, stuck, or waiting for a
person, as episodes read from the watchdog's events (ttal.engine.watch_pass writes them)
and from the human gates' waits (ttal.core.stage_times). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ttal.core.stage_times import Fact

WATCH_OPEN = {"watch-dead": "dead", "watch-failed": "dead", "watch-stuck": "stuck"}
WATCH_CLOSE = ("watch-restarted", "watch-recovered", "watch-unstuck")


@dataclass(frozen=True)
class Episode:
    state: str  # dead, stuck, waiting
    agent: str  # a session name, or `person` for a human gate
    task: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Trouble:
    state: str
    episodes: int
    seconds: float
    longest: float
    agent: str  # the longest episode's
    task: str


def watch_subject(fact: Fact) -> str:
    """The agent a watchdog event is about (ttal.engine.watch_pass writes the details:
    `dead:NAME:CODE` for a death, `NAME: ...` or `NAME` for the rest)."""
    if fact.kind in ("watch-dead", "watch-failed"):
        parts = fact.detail.split(":")
        return parts[1] if len(parts) >= 2 else fact.detail
    return fact.detail.split(":", 1)[0].strip()


def episodes_of(watch: Sequence[Fact], ends: Mapping[str, float | None],
                until: float) -> list[Episode]:  # fmt: skip
    """The watchdog's dead, stuck and waiting episodes; `ends`: task -> when it ended (an
    episode still open ends there, else at `until`)."""
    found: list[Episode] = []
    open_: dict[str, tuple[str, float, str]] = {}  # agent -> (state, start, task)
    for fact in watch:
        agent = watch_subject(fact)
        state = WATCH_OPEN.get(fact.kind)
        if state == "stuck" and fact.detail.partition(": ")[2].startswith("waiting"):
            state = "waiting"
        was = open_.get(agent)
        if was and (fact.kind in WATCH_CLOSE or (state == "dead" and was[0] != "dead")):
            found.append(Episode(was[0], agent, was[2], was[1], fact.ts))
            del open_[agent]
        if state and agent not in open_:
            open_[agent] = (state, fact.ts, fact.task)
    for agent, (state, start, uuid) in open_.items():  # still open: until its task ended
        found.append(Episode(state, agent, uuid, start, ends.get(uuid) or until))
    return found


def clip(episodes: Sequence[Episode], since: float, until: float) -> list[Episode]:
    clipped = [Episode(e.state, e.agent, e.task, max(e.start, since), min(e.end, until))
               for e in episodes]  # fmt: skip
    return [e for e in clipped if e.end > e.start]


def trouble(episodes: Sequence[Episode]) -> list[Trouble]:
    rows = []
    for state in ("stuck", "dead", "waiting"):
        of = [e for e in episodes if e.state == state]
        if of:
            worst = max(of, key=lambda e: e.seconds)
            rows.append(Trouble(state, len(of), sum(e.seconds for e in of), worst.seconds,
                                worst.agent, worst.task))  # fmt: skip
    return rows
