"""When each stage of a task began and ended, read from what ttal recorded: its event log
(spawns, review rounds, verdicts, a person's approvals) and its own tag writes (the time
it wrote `+coded`, `+lgtm`, `+merged`). Pure: `ttal log` and `ttal insights` gather the
records (ttal.commands.task_log, ttal.commands.insights) and both read the stages from here.

A stage ends when the tag that finishes it lands: the approve tag of a review gate, a
person's approval of a human gate (ttal's `human-approved` event), else the stage's own tag
(a merge stage's tag is added by the merge). It begins where the stage before it ended;
the first stage begins at the task's first spawn or assignment (else when it was entered).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ttal.core.pipeline import Stage

TW_DATE = "%Y%m%dT%H%M%SZ"
STARTS = ("spawned", "assigned")  # the events that begin a task's first stage
ROUNDS = ("review-started", "review-round")  # each review round begins with one of these


@dataclass(frozen=True)
class Fact:
    """One entry of ttal's event log (ttal.adapters.store.events.Event, as core sees it)."""

    ts: float
    task: str
    kind: str
    actor: str
    detail: str


@dataclass(frozen=True)
class Span:
    """One stage of one task. `start` or `end` is None where it has not happened (or ttal
    has no record of it: a tag a person added by hand has no time ttal knows)."""

    stage: str
    kind: str  # work or merge
    agent: str  # who did the work: the stage's agent, or the owner a role stage was assigned to
    reviewer: str  # the review gate's reviewer agent ("" without a review gate)
    start: float | None
    end: float | None
    rounds: int = 0  # review rounds begun in the stage
    changes: int = 0  # rounds that ended with changes requested
    waited: float = 0.0  # seconds at a human gate, waiting for a person (so far, if open)
    ready: float | None = None  # when a human gate began to wait (None: not yet, or no gate)

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(self.end - self.start, 0.0)


def tw_time(text: object) -> float | None:
    """A Taskwarrior date (`20261202T104945Z`, whole seconds, UTC) as epoch seconds."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.strptime(text, TW_DATE).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def tag_times(writes: Sequence[tuple[str, float]]) -> dict[str, float]:
    """tag -> when ttal first wrote it, from (field, time) of its recorded writes (`+coded`).
    Pipeline tags are monotonic: the first write is when it landed."""
    found: dict[str, float] = {}
    for field, ts in writes:
        if field.startswith("+") and field[1:] not in found:
            found[field[1:]] = ts
    return found


def stage_spans(
    stages: Sequence[Stage],
    facts: Sequence[Fact],
    tags: Mapping[str, float],
    entry: float | None,
    owner: str = "",
    now: float | None = None,
) -> list[Span]:
    """Each stage of the task, in pipeline order. `facts`: the task's events, oldest first;
    `tags`: tag_times of its writes; `owner`: the agent a role stage went to; `now`: the
    moment an open human gate has waited until."""
    first = next((f.ts for f in facts if f.kind in STARTS), entry)
    spans: list[Span] = []
    start = first
    for stage in stages:
        end = _stage_end(stage, facts, tags)
        if start is None:
            end = None  # a stage cannot end before it began: no record of the one before
        spans.append(_span(stage, facts, tags, start, end, owner, now))
        start = end
    return spans


def _stage_end(stage: Stage, facts: Sequence[Fact], tags: Mapping[str, float]) -> float | None:
    if stage.kind != "merge" and stage.gate == "human":
        return next((f.ts for f in facts if f.kind == "human-approved"
                     and f.detail == stage.name), None)  # fmt: skip
    if stage.kind != "merge" and stage.gate == "review":
        return tags.get(stage.approve_tag)
    return tags.get(stage.tag)


def _span(stage: Stage, facts: Sequence[Fact], tags: Mapping[str, float], start: float | None,
          end: float | None, owner: str, now: float | None) -> Span:  # fmt: skip
    inside = [f for f in facts
              if start is not None and f.ts >= start and (end is None or f.ts <= end)]  # fmt: skip
    rounds = sum(f.kind in ROUNDS for f in inside)  # by time: one stage is reviewed at once
    changes = sum(f.kind == "changes-requested" for f in inside)
    ready: float | None = None
    waited = 0.0
    if stage.gate == "human" and start is not None:
        ready = start if stage.kind == "merge" else tags.get(stage.tag)
        approved = next((f.ts for f in facts if f.kind == "human-approved"
                         and f.detail == stage.name), None)  # fmt: skip
        until = approved if approved is not None else now
        if ready is not None and until is not None:
            waited = max(until - ready, 0.0)
    agent = (owner if stage.role else stage.agent) if stage.kind == "work" else ""
    reviewer = stage.reviewer if stage.gate == "review" else ""
    return Span(stage.name, stage.kind, agent, reviewer, start, end, rounds, changes, waited, ready)
