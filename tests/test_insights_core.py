"""The pure parts of `ttal log` and `ttal insights`: percentiles, windows, stage spans, the
timeline's order, trouble episodes from the watchdog's real event details, the figures, and
their text and SVG (cost shown only when recorded). No subprocess."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from ttal.cli import render_html, render_insights
from ttal.commands.task_log import StageCost, TaskLog
from ttal.core.insights import (
    ActionLine,
    CostItem,
    TaskFacts,
    day_of,
    days,
    parse_since,
    percentile,
    rework_rate,
    summarize,
)
from ttal.core.pipeline import Stage
from ttal.core.stage_times import Fact, Span, stage_spans, tag_times, tw_time
from ttal.core.timeline import JournalLine, MessageLine, timeline
from ttal.core.trouble import episodes_of, watch_subject

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp()
U = "1a2b3c4d-0000-4000-8000-000000000001"
IMPLEMENT = Stage("implement", "work", "coded", "review", agent="coder", reviewer="review-lead",
                  review_tag="reviewing", approve_tag="lgtm")  # fmt: skip
MERGE = Stage("merge", "merge", "merged", "human")
PLAN = Stage("plan", "work", "planned", "human", agent="coder")


def fact(dt: float, kind: str, detail: str = "", actor: str = "", task: str = U) -> Fact:
    return Fact(T0 + dt, task, kind, actor, detail)


def tw(dt: float) -> str:
    return datetime.fromtimestamp(T0 + dt, UTC).strftime("%Y%m%dT%H%M%SZ")


# ---- small pieces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "want"),
    [
        pytest.param([4, 1, 3, 2], 50, 2.5, id="median-of-even-interpolates"),
        pytest.param([1, 2, 3, 4], 90, 3.7, id="p90-interpolates"),
        pytest.param([7], 90, 7, id="one-value"),
        pytest.param([1, 2, 3, 4, 5], 50, 3, id="median-of-odd"),
        pytest.param([10, 20], 100, 20, id="p100-is-max"),
    ],
)
def test_percentile(values: list[float], q: float, want: float) -> None:
    assert percentile(values, q) == pytest.approx(want)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


@pytest.mark.parametrize(
    ("text", "back"),
    [pytest.param("7d", 7 * 86400, id="days"), pytest.param("12h", 12 * 3600, id="hours"),
     pytest.param("30m", 1800, id="minutes"), pytest.param(" 2w ", 14 * 86400, id="weeks")],
)  # fmt: skip
def test_since_as_a_span(text: str, back: float) -> None:
    assert parse_since(text, 1_000_000_000.0) == 1_000_000_000.0 - back


def test_since_as_a_date_and_bad_input() -> None:
    assert parse_since("2026-11-25", 0) == datetime(2026, 11, 25, tzinfo=UTC).timestamp()
    for bad in ("7", "d", "7y", "2026-13-01", "yesterday", "-3d"):
        with pytest.raises(ValueError, match="neither a span"):
            parse_since(bad, 0)


def test_days_and_rework_rate() -> None:
    assert days(T0, T0 + 2 * 86400) == ["2026-11-30", "2026-12-01", "2026-12-02"]
    assert day_of(T0) == "2026-11-30"
    assert rework_rate(1, 4) == 0.25
    assert rework_rate(0, 0) is None  # no review: no rate, not 0%
    assert tw_time("20261130T090000Z") == T0
    assert tw_time("") is None and tw_time("garbage") is None and tw_time(None) is None


# ---- stage spans ------------------------------------------------------------------------------


def reworked_task_facts() -> list[Fact]:
    """A review with one round of changes, then a merge behind a human gate."""
    return [fact(10, "spawned", "w-1a2b3c4d on ttal/x", "human"),
            fact(30, "tagged", "coded", "w-1a2b3c4d"),
            fact(31, "review-started", "r-1a2b3c4d-implement", "w-1a2b3c4d"),
            fact(60, "changes-requested", "add a test", "r-1a2b3c4d-implement"),
            fact(90, "review-round", "2", "w-1a2b3c4d"),
            fact(120, "approved", "approved by r-1a2b3c4d-implement (round 2)",
                 "r-1a2b3c4d-implement"),
            fact(400, "human-approved", "merge", "human"),
            fact(401, "merged", "ttal/x merged into main", "human")]  # fmt: skip


def test_stage_spans_of_a_reworked_task_behind_a_human_gate() -> None:
    tags = tag_times([("+coded", T0 + 30), ("+reviewing", T0 + 31), ("+lgtm", T0 + 119),
                      ("+coded", T0 + 500), ("+merged", T0 + 401)])  # fmt: skip
    assert tags["coded"] == T0 + 30  # the first write: tags are monotonic
    spans = stage_spans((IMPLEMENT, MERGE), reworked_task_facts(), tags, T0, now=T0 + 1000)
    implement, merge = spans
    assert (implement.start, implement.end, implement.seconds) == (T0 + 10, T0 + 119, 109)
    assert (implement.rounds, implement.changes, implement.agent) == (2, 1, "coder")
    assert implement.reviewer == "review-lead" and implement.ready is None
    assert (merge.start, merge.end, merge.kind) == (T0 + 119, T0 + 401, "merge")
    assert (merge.ready, merge.waited, merge.rounds) == (T0 + 119, 281, 0)


def test_stage_spans_without_records() -> None:
    """No spawn recorded: the first stage begins at entry; a tag ttal did not write (a
    person's) has no time, so that stage and the next have no end."""
    spans = stage_spans((PLAN, IMPLEMENT, MERGE), [], {"planned": T0 + 5}, T0 - 50, now=T0 + 65)
    plan, implement, merge = spans
    assert (plan.start, plan.end, plan.ready, plan.waited) == (T0 - 50, None, T0 + 5, 60)
    assert implement.start is None and implement.end is None and implement.seconds is None
    assert merge.start is None and merge.end is None
    assert stage_spans((IMPLEMENT,), [], {}, None) == [
        Span("implement", "work", "coder", "review-lead", None, None)
    ]


# ---- the timeline ---------------------------------------------------------------------------


def test_timeline_order_sources_and_folding() -> None:
    notes = [
        {"entry": tw(60), "description": "changes: x"},
        {"entry": tw(200), "description": "a person's"},
    ]
    task = {
        "uuid": U,
        "description": "Add a limit",
        "status": "completed",
        "entry": tw(0),
        "end": tw(401),
        "annotations": notes,
    }
    facts = [*reworked_task_facts(), fact(150, "check-passed", "make test", "ttal")]
    writes = [("+coded", T0 + 30.2), ("+lgtm", T0 + 119.5), ("+merged", T0 + 401.3)]
    journal = [
        JournalLine(T0 + 10.1, "worktree.add", "done", "wt:/x"),
        JournalLine(T0 + 400.5, "merge", "unknown", "merge:ttal/x", "may be half done"),
    ]
    messages = [MessageLine(T0 + 60.5, "r-1a2b3c4d-implement", "w-1a2b3c4d", "fix\nmore"),
                MessageLine(T0 + 401.9, "ttal", "human", "merged", delivered=False)]  # fmt: skip
    entries = timeline(task, facts, writes, journal, messages)
    got = [(round(e.ts - T0, 1), e.source, e.kind, e.actor, e.text) for e in entries]
    assert got == [
        (0, "task", "created", "", "Add a limit"),
        (10, "event", "spawned", "human", "w-1a2b3c4d on ttal/x"),
        (10.1, "journal", "worktree.add", "", "done: wt:/x"),
        (30.2, "tag", "tag", "w-1a2b3c4d", "+coded"),  # the `tagged` event folded in
        (31, "event", "review-started", "w-1a2b3c4d", "r-1a2b3c4d-implement"),
        (60, "task", "annotation", "", "changes: x"),  # its whole second: first in it
        (60, "event", "changes-requested", "r-1a2b3c4d-implement", "add a test"),
        (60.5, "message", "message", "r-1a2b3c4d-implement", "to w-1a2b3c4d: fix"),
        (90, "event", "review-round", "w-1a2b3c4d", "2"),
        (119.5, "tag", "tag", "", "+lgtm"),
        (120, "event", "approved", "r-1a2b3c4d-implement",
         "approved by r-1a2b3c4d-implement (round 2)"),
        (150, "event", "check-passed", "ttal", "make test"),  # a kind added later shows as is
        (200, "task", "annotation", "", "a person's"),
        (400, "event", "human-approved", "human", "merge"),
        (400.5, "journal", "merge", "", "unknown: merge:ttal/x (may be half done)"),
        (401, "event", "merged", "human", "ttal/x merged into main"),
        (401.3, "tag", "tag", "", "+merged"),
        (401.9, "message", "message", "ttal", "to human: merged [not delivered yet]"),
        (401, "task", "completed", "", ""),  # ttal's last write: the end of its second
    ]  # fmt: skip


# ---- trouble ----------------------------------------------------------------------------------


def test_episodes_from_the_watchdogs_own_details() -> None:
    """The details as ttal.engine.watch_pass writes them."""
    other = "9f9f9f9f-0000-4000-8000-000000000002"
    watch = [fact(0, "watch-dead", "dead:w-1a2b3c4d:137", "ttal"),
             fact(5, "watch-restarted", "w-1a2b3c4d: restarted with ttal go (1/3)", "ttal"),
             fact(100, "watch-stuck", "w-1a2b3c4d: stuck 10m", "ttal"),
             fact(160, "watch-unstuck", "w-1a2b3c4d", "ttal"),
             fact(200, "watch-stuck", "r-9f9f9f9f-implement: waiting 6m", "ttal", task=other),
             fact(210, "watch-dead", "dead:r-9f9f9f9f-implement:1", "ttal", task=other),
             fact(215, "watch-failed", "failed:r-9f9f9f9f-implement:1", "ttal", task=other),
             fact(300, "watch-stuck", "lead: stuck 9m", "ttal", task="")]  # fmt: skip
    assert [watch_subject(f) for f in watch[:3]] == ["w-1a2b3c4d"] * 3
    found = episodes_of(watch, {U: None, other: T0 + 260}, T0 + 1000)
    got = sorted((e.state, e.agent, e.start - T0, e.end - T0) for e in found)
    assert got == [
        ("dead", "r-9f9f9f9f-implement", 210, 260),  # failed: dead until its task ended
        ("dead", "w-1a2b3c4d", 0, 5),
        ("stuck", "lead", 300, 1000),  # a manager still stuck: until the window's end
        ("stuck", "w-1a2b3c4d", 100, 160),
        ("waiting", "r-9f9f9f9f-implement", 200, 210),  # waiting ends where it died
    ]


# ---- the figures ----------------------------------------------------------------------------


def one_task() -> tuple[TaskFacts, ...]:
    """The reworked task, merged behind a human gate."""
    facts = reworked_task_facts()
    tags = {"coded": T0 + 30, "reviewing": T0 + 31, "lgtm": T0 + 119, "merged": T0 + 401}
    spans = stage_spans((IMPLEMENT, MERGE), facts, tags, T0, now=T0 + 1000)
    return (TaskFacts(U, "Add a limit", "api", "completed", T0 + 401, tuple(spans), tuple(facts)),)


def test_summary_figures() -> None:
    tasks = one_task()
    actions = [
        ActionLine(1, T0 + 50, "merge", U, "unknown", "may be half done"),
        ActionLine(2, T0 - 5000, "merge", U, "flagged", ""),
    ]
    report = summarize(tasks, [], actions, {"coder": "worker", "review-lead": "reviewer"},
                       T0 - 3600, T0 + 1000)  # fmt: skip
    assert (report.tasks, report.merged, report.reviewed, report.reworked) == (1, 1, 1, 1)
    assert report.rework_rate == 1.0 and report.rounds == {2: 1}
    assert [(a.name, a.role, a.stages, a.merged, a.verdicts) for a in report.agents] == [
        ("coder", "worker", 1, 1, 0), ("review-lead", "reviewer", 0, 0, 2)]  # fmt: skip
    assert [(r.name, r.stages, r.verdicts) for r in report.roles] == [
        ("reviewer", 0, 2), ("worker", 1, 0)]  # fmt: skip
    assert [(s.stage, s.count, s.p50) for s in report.stage_times] == [
        ("implement", 1, 109), ("merge", 1, 282)]  # fmt: skip
    assert [(t.state, t.episodes, t.seconds, t.agent) for t in report.trouble] == [
        ("waiting", 1, 281, "person")]  # fmt: skip
    assert [a.id for a in report.actions] == [1]  # the other is before the window
    assert [(d.day, d.merged, d.stages) for d in report.per_day] == [("2026-11-30", 1, 1)]
    assert [(t.uuid, t.seconds, t.rounds) for t in report.slowest] == [(U, 391, 2)]
    assert report.cost_usd is None and report.costliest == []  # no records: no number
    assert all(a.usd is None for a in report.agents)


def test_summary_with_cost_records() -> None:
    costs = [CostItem(U, "implement", "coder", "2026-11-30", 1000, 0.5),
             CostItem(U, "implement", "review-lead", "2026-11-30", 300, 0.25),
             CostItem(U, "implement", "coder", "2026-10-01", 9, 9.0)]  # fmt: skip
    report = summarize(one_task(), [], [], {"coder": "worker"}, T0 - 3600, T0 + 1000, costs)
    assert (report.cost_usd, report.cost_tokens) == (0.75, 1300)  # October's is outside
    assert {a.name: a.usd for a in report.agents} == {"coder": 0.5, "review-lead": 0.25}
    assert [(t.uuid, t.usd, t.tokens) for t in report.costliest] == [(U, 0.75, 1300)]
    assert [d.usd for d in report.per_day] == [0.75]
    text = render_insights.insights_text(report)
    assert "cost: $0.75 for 1,300 tokens" in text and "Most expensive tasks" in text
    page = render_html.page(report)
    assert "data-chart='cost-per-day' data-points='1'" in page and "$0.75" in page
    plain = render_insights.insights_text(summarize(one_task(), [], [], {}, T0 - 60, T0 + 999))
    assert "cost" not in plain.lower() and "$" not in plain


def test_log_text_shows_cost_only_when_recorded() -> None:
    spans = stage_spans((IMPLEMENT, MERGE), reworked_task_facts(), {"lgtm": T0 + 119}, T0)
    log = TaskLog(U, 3, "Add a limit", "api", "pending", ["coded"], [], spans, {})
    assert "COST" not in render_insights.log_text(log)
    assert log.as_dict()["cost"] is None and log.as_dict()["stages"][0]["cost"] is None
    priced = TaskLog(U, 3, "Add a limit", "api", "pending", ["coded"], [], spans,
                     {"implement": StageCost(1200, 0.42)})  # fmt: skip
    text = render_insights.log_text(priced)
    assert "COST" in text and "$0.42" in text and "1200" in text
    assert priced.as_dict()["stages"][0]["cost"] == {"tokens": 1200, "usd": 0.42}


def test_each_chart_has_one_bar_per_data_point() -> None:
    report = summarize(one_task(), [], [], {"coder": "worker"}, T0 - 2 * 86400, T0 + 1000)
    page = render_html.page(report)
    charts = dict(re.findall(r"data-chart='([^']+)' data-points='(\d+)'", page))
    assert charts == {"per-day": "3", "stage-times": "4", "throughput": "2", "rounds": "1",
                      "trouble": "1"}  # fmt: skip
    for name, points in charts.items():
        svg = page.split(f"data-chart='{name}'")[1].split("</svg>")[0]
        assert svg.count("<rect class='bar'") == int(points), name
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    odd = render_html.bars("x", ["<b>&"], [("s", "#000", [1.0])])
    assert "<b>" not in odd and "&lt;b&gt;&amp;" in odd
