"""`ttal insights`: the weekly review's figures, computed from what ttal recorded. Pure:
ttal.commands.insights gathers the records; ttal.cli.render_insights and
ttal.cli.render_html show them.

Definitions (docs/insights.md says the same for people):
- a stage's cycle time runs from its start to its end (ttal.core.stage_times); it counts in
  the window its end falls in. p50 and p90 interpolate linearly between the nearest values.
- throughput: per agent, the work stages it finished, the tasks merged that it worked on,
  and the review verdicts it gave (approved or changes requested); per role, their sums.
- a reviewed task had a review gate end in the window; its rounds are all its review rounds;
  it was reworked when any round ended with changes requested. Rework rate = reworked /
  reviewed.
- trouble: an agent is dead from the watchdog's `watch-dead` until it is restarted or
  recovers, stuck (or waiting for a person, when its runtime said so) from `watch-stuck`
  until `watch-unstuck`, a death or recovery; a human gate waits from when it is reached
  until a person's approval. Each episode counts only inside the window; one still open
  counts until the window's end (or its task's end).
- cost is shown only when cost records exist; ttal never shows a made-up number.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ttal.core.plans import reviewer_session_name
from ttal.core.stage_times import Fact, Span
from ttal.core.trouble import Episode, Trouble, clip, episodes_of, trouble

UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
FAILED = ("skipped", "unknown")  # journal states: the action did not (surely) happen
FLAGGED = ("flagged", "resolved")  # left for a person (resolved: a person settled it)
TOP = 5  # rows of the slowest and the most expensive tasks


@dataclass(frozen=True)
class CostItem:
    """Tokens and their price for one task's stage on one day (from the cost records)."""

    task: str
    stage: str
    agent: str
    day: str  # YYYY-MM-DD, UTC
    tokens: int
    usd: float


@dataclass(frozen=True)
class TaskFacts:
    uuid: str
    description: str
    project: str
    status: str
    end: float | None  # completed or deleted
    spans: tuple[Span, ...]
    facts: tuple[Fact, ...]  # its events, oldest first


@dataclass(frozen=True)
class ActionLine:
    """An intent of the action journal that failed or was left for a person."""

    id: int
    ts: float
    action: str
    task: str
    state: str
    note: str


# ---- small pure pieces ---------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between the nearest values."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def parse_since(text: str, now: float) -> float:
    """`7d`, `12h`, `30m`, `2w` before `now`, or a date `2026-11-25` (UTC midnight)."""
    found = SINCE.match(text)
    if found:
        return now - int(found.group(1)) * UNITS[found.group(2)]
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{text!r} is neither a span (7d, 12h, 30m, 2w) nor a date "
                         "(YYYY-MM-DD)") from None  # fmt: skip
    return day.timestamp()


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def days(since: float, until: float) -> list[str]:
    """Every UTC day from since's to until's, both included."""
    first = datetime.fromtimestamp(since, UTC).date()
    last = datetime.fromtimestamp(until, UTC).date()
    return [str(first + timedelta(n)) for n in range((last - first).days + 1)]


def rework_rate(reworked: int, reviewed: int) -> float | None:
    return reworked / reviewed if reviewed else None


# ---- the figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StageTime:
    stage: str
    count: int
    p50: float
    p90: float
    max: float


@dataclass(frozen=True)
class Throughput:
    name: str  # an agent, or a role
    role: str
    stages: int
    merged: int
    verdicts: int
    usd: float | None = None  # only with cost records


@dataclass(frozen=True)
class DayLine:
    day: str
    merged: int
    stages: int
    usd: float | None = None


@dataclass(frozen=True)
class TaskLine:
    uuid: str
    description: str
    project: str
    seconds: float | None  # from its first stage's start to its last recorded end
    rounds: int
    usd: float | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class Insights:
    since: float
    until: float
    tasks: int  # tasks with any record in the window
    merged: int
    agents: list[Throughput]
    roles: list[Throughput]
    stage_times: list[StageTime]
    reviewed: int
    reworked: int
    rounds: dict[int, int]  # rounds -> reviewed tasks with that many
    trouble: list[Trouble]
    episodes: list[Episode]
    actions: list[ActionLine]
    per_day: list[DayLine]
    slowest: list[TaskLine]
    costliest: list[TaskLine] = field(default_factory=list)
    cost_usd: float | None = None  # None: no cost records (not zero)
    cost_tokens: int | None = None

    @property
    def rework_rate(self) -> float | None:
        return rework_rate(self.reworked, self.reviewed)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rounds"] = {str(k): v for k, v in sorted(self.rounds.items())}
        data["rework_rate"] = self.rework_rate
        data["episodes"] = [{**asdict(e), "seconds": e.seconds} for e in self.episodes]
        return data


def summarize(
    tasks: Sequence[TaskFacts],
    watch: Sequence[Fact],
    actions: Sequence[ActionLine],
    roles: Mapping[str, str],
    since: float,
    until: float,
    costs: Sequence[CostItem] = (),
) -> Insights:
    """`watch`: the watchdog's events of the window (all agents, managers too), oldest
    first; `roles`: agent -> role."""
    reviewers = {reviewer_session_name(t.uuid, s.stage): s.reviewer
                 for t in tasks for s in t.spans if s.reviewer}  # fmt: skip
    inside = _inside(since, until)
    costs = [c for c in costs if day_of(since) <= c.day <= day_of(until)]
    merged = {t.uuid: t for t in tasks if (m := _merged_at(t)) is not None and inside(m)}
    agents = _throughput(tasks, merged, roles, reviewers, inside, costs)
    reviewed = [t for t in tasks if any(s.reviewer and s.end is not None and inside(s.end)
                                        for s in t.spans)]  # fmt: skip
    rounds = Counter(sum(s.rounds for s in t.spans if s.reviewer) for t in reviewed)
    ends = {t.uuid: t.end for t in tasks}
    found = [*episodes_of(watch, ends, until), *_gate_waits(tasks)]
    episodes = clip(sorted(found, key=lambda e: (e.start, e.agent)), since, until)
    usd = sum(c.usd for c in costs) if costs else None
    return Insights(
        since=since, until=until, tasks=len(tasks), merged=len(merged), agents=agents,
        roles=_by_role(agents), stage_times=_stage_times(tasks, inside),
        reviewed=len(reviewed), reworked=sum(any(s.changes for s in t.spans) for t in reviewed),
        rounds=dict(rounds), trouble=trouble(episodes), episodes=episodes,
        actions=[a for a in actions if inside(a.ts)],
        per_day=_per_day(tasks, merged, since, until, costs),
        slowest=_slowest(list(merged.values()), costs),
        costliest=_costliest(tasks, costs), cost_usd=usd,
        cost_tokens=sum(c.tokens for c in costs) if costs else None,
    )  # fmt: skip


def _inside(since: float, until: float) -> Any:
    return lambda ts: since <= ts <= until


def _merged_at(task: TaskFacts) -> float | None:
    """When its last stage ended, if it is a merge (a task done outside ttal has none)."""
    last = task.spans[-1] if task.spans else None
    return last.end if last is not None and last.kind == "merge" else None


def _throughput(tasks: Sequence[TaskFacts], merged: Mapping[str, TaskFacts],
                roles: Mapping[str, str], reviewers: Mapping[str, str], inside: Any,
                costs: Sequence[CostItem]) -> list[Throughput]:  # fmt: skip
    stages: Counter[str] = Counter()
    tasks_merged: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    for task in tasks:
        for span in task.spans:
            if span.agent and span.end is not None and inside(span.end):
                stages[span.agent] += 1
        if task.uuid in merged:
            tasks_merged.update({s.agent for s in task.spans if s.agent})
        for fact in task.facts:
            if fact.kind in ("approved", "changes-requested") and inside(fact.ts):
                verdicts[reviewers.get(fact.actor, fact.actor)] += 1
    usd = _sum_by(costs, lambda c: c.agent)
    names = sorted(set(stages) | set(tasks_merged) | set(verdicts) | set(usd))
    return [Throughput(n, roles.get(n, "?"), stages[n], tasks_merged[n], verdicts[n],
                       usd.get(n)) for n in names]  # fmt: skip


def _by_role(agents: Sequence[Throughput]) -> list[Throughput]:
    rows: dict[str, list[Throughput]] = defaultdict(list)
    for a in agents:
        rows[a.role].append(a)
    return [Throughput(role, role, sum(a.stages for a in of), sum(a.merged for a in of),
                       sum(a.verdicts for a in of), _sum_opt(a.usd for a in of))
            for role, of in sorted(rows.items())]  # fmt: skip


def _sum_opt(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _sum_by(costs: Sequence[CostItem], key: Any) -> dict[str, float]:
    found: dict[str, float] = defaultdict(float)
    for c in costs:
        found[key(c)] += c.usd
    return dict(found)


def _stage_times(tasks: Sequence[TaskFacts], inside: Any) -> list[StageTime]:
    found: dict[str, list[float]] = {}
    for task in tasks:
        for span in task.spans:
            took = span.seconds
            if took is not None and span.end is not None and inside(span.end):
                found.setdefault(span.stage, []).append(took)
    return [StageTime(stage, len(v), percentile(v, 50), percentile(v, 90), max(v))
            for stage, v in found.items()]  # fmt: skip


def _gate_waits(tasks: Sequence[TaskFacts]) -> list[Episode]:
    """Each human gate's wait for a person's approval."""
    return [Episode("waiting", "person", t.uuid, s.ready, s.ready + s.waited)
            for t in tasks for s in t.spans if s.ready is not None and s.waited]  # fmt: skip


def _per_day(tasks: Sequence[TaskFacts], merged: Mapping[str, TaskFacts], since: float,
             until: float, costs: Sequence[CostItem]) -> list[DayLine]:  # fmt: skip
    merges = Counter(day_of(m) for t in merged.values() if (m := _merged_at(t)) is not None)
    stages = Counter(day_of(s.end) for t in tasks for s in t.spans
                     if s.agent and s.end is not None and since <= s.end <= until)  # fmt: skip
    usd = _sum_by(costs, lambda c: c.day)
    return [DayLine(d, merges[d], stages[d], usd.get(d, 0.0) if costs else None)
            for d in days(since, until)]  # fmt: skip


def _task_line(task: TaskFacts, costs: Sequence[CostItem]) -> TaskLine:
    starts = [s.start for s in task.spans if s.start is not None]
    ends = [s.end for s in task.spans if s.end is not None]
    took = max(ends) - min(starts) if starts and ends else None
    mine = [c for c in costs if c.task == task.uuid]
    return TaskLine(task.uuid, task.description, task.project, took,
                    sum(s.rounds for s in task.spans if s.reviewer),
                    sum(c.usd for c in mine) if mine else None,
                    sum(c.tokens for c in mine) if mine else None)  # fmt: skip


def _slowest(merged: Sequence[TaskFacts], costs: Sequence[CostItem]) -> list[TaskLine]:
    lines = [line for t in merged if (line := _task_line(t, costs)).seconds is not None]
    return sorted(lines, key=lambda line: -(line.seconds or 0.0))[:TOP]


def _costliest(tasks: Sequence[TaskFacts], costs: Sequence[CostItem]) -> list[TaskLine]:
    if not costs:
        return []
    lines = [line for t in tasks if (line := _task_line(t, costs)).usd is not None]
    return sorted(lines, key=lambda line: -(line.usd or 0.0))[:TOP]
