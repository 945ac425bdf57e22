"""`ttal insights --html FILE`: the weekly review as ONE self-contained HTML file. Charts are
SVG written here by hand (stdlib only): no script, no font or stylesheet from the network,
nothing to install, and nothing imported on any other command's path.

Each chart is an `<svg class="chart" data-chart=NAME data-points=N>` whose data points are
its `<rect class="bar">` elements, one per point (a zero is a bar of no height), each with
its value in `data-value` and a `<title>` a browser shows on hover. tests/test_insights_e2e.py
renders the file in headless Chromium and counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING

from ttal.cli import render_insights as words
from ttal.core.durations import ago

if TYPE_CHECKING:
    from ttal.core.insights import Insights

W, H = 640, 230  # a chart's size
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44  # margins: axis labels left and below
COLORS = {"per-day": "#1f77b4", "p50": "#2ca02c", "p90": "#17becf", "throughput": "#ff7f0e",
          "rounds": "#9467bd", "trouble": "#d62728", "cost": "#8c564b"}  # fmt: skip
Series = tuple[str, str, Sequence[float]]  # name, color, one value per label

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;text-align:left;
border-bottom:1px solid #eee}th{background:#f6f6f6}.chart{display:block;margin:8px 0}
.chart text{font-size:11px;fill:#444}.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;opacity:.85}
.empty{color:#888}pre{white-space:pre-wrap;font-size:12px}
"""


def page(report: Insights) -> str:
    costs = report.cost_usd is not None
    span = f"{words.when(report.since)} to {words.when(report.until)}"
    summary = (f"{report.tasks} task(s) with activity, {report.merged} merged; "
               f"{report.reviewed} reviewed, {report.reworked} reworked (rework rate "
               f"{words.percent(report.rework_rate)})")  # fmt: skip
    if costs:
        summary += f"; cost {words.usd(report.cost_usd)} for {report.cost_tokens:,} tokens"
    body = [f"<h1>ttal insights</h1><p>{escape(span)}</p><p>{escape(summary)}</p>",
            "<h2>Tasks merged per day</h2>", _per_day(report),
            "<h2>Cycle time per stage (p50, p90)</h2>", _stage_times(report),
            "<h2>Throughput per agent (stages finished + review verdicts)</h2>",
            _throughput(report), "<h2>Review rounds per reviewed task</h2>", _rounds(report),
            "<h2>Time stuck, dead or waiting for a person</h2>", _trouble(report)]  # fmt: skip
    if costs:
        body += ["<h2>Cost per day</h2>", _cost_per_day(report)]
    body += ["<h2>Tables</h2>", _tables(report)]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>ttal insights</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")  # fmt: skip


def _per_day(r: Insights) -> str:
    labels = [d.day[5:] for d in r.per_day]
    return bars("per-day", labels, [("merged", COLORS["per-day"], [d.merged for d in r.per_day])])


def _stage_times(r: Insights) -> str:
    labels = [s.stage for s in r.stage_times]
    series: list[Series] = [("p50", COLORS["p50"], [s.p50 for s in r.stage_times]),
                            ("p90", COLORS["p90"], [s.p90 for s in r.stage_times])]  # fmt: skip
    return bars("stage-times", labels, series, ago)


def _throughput(r: Insights) -> str:
    labels = [a.name for a in r.agents]
    values = [a.stages + a.verdicts for a in r.agents]
    return bars("throughput", labels, [("work", COLORS["throughput"], values)])


def _rounds(r: Insights) -> str:
    labels = [f"{n} round(s)" for n in sorted(r.rounds)]
    values = [r.rounds[n] for n in sorted(r.rounds)]
    return bars("rounds", labels, [("tasks", COLORS["rounds"], values)])


def _trouble(r: Insights) -> str:
    labels = [t.state for t in r.trouble]
    values = [t.seconds for t in r.trouble]
    return bars("trouble", labels, [("time", COLORS["trouble"], values)], ago)


def _cost_per_day(r: Insights) -> str:
    labels = [d.day[5:] for d in r.per_day]
    values = [d.usd or 0.0 for d in r.per_day]
    return bars("cost-per-day", labels, [("usd", COLORS["cost"], values)], words.usd)


def bars(name: str, labels: Sequence[str], series: Sequence[Series],
         shown: Callable[[float], str] = lambda v: f"{v:g}") -> str:  # fmt: skip
    """A bar chart: a group of bars per label, one bar per series."""
    points = len(labels) * len(series)
    if not labels:
        return f"<p class='empty' data-chart='{name}'>nothing in this window</p>"
    top = max((v for _, _, values in series for v in values), default=0.0) or 1.0
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    group = plot_w / len(labels)
    width = max(min(group * 0.8 / len(series), 60.0), 2.0)
    out = [f"<svg class='chart' data-chart='{name}' data-points='{points}' width='{W}' "
           f"height='{H}' viewBox='0 0 {W} {H}' xmlns='http://www.w3.org/2000/svg' "
           f"role='img' aria-label='{escape(name)}'>"]  # fmt: skip
    for frac in (0.0, 0.5, 1.0):  # grid lines with their values
        y = TOP + plot_h * (1 - frac)
        out.append(f"<line x1='{LEFT}' x2='{W - RIGHT}' y1='{y:.1f}' y2='{y:.1f}' "
                   f"stroke='#ddd'/><text x='{LEFT - 6}' y='{y + 4:.1f}' "
                   f"text-anchor='end'>{escape(shown(top * frac))}</text>")  # fmt: skip
    for i, label in enumerate(labels):
        x0 = LEFT + group * i + (group - width * len(series)) / 2
        for j, (sname, color, values) in enumerate(series):
            value = float(values[i])
            h = plot_h * value / top
            x, y = x0 + width * j, TOP + plot_h - h
            tip = escape(f"{label} {sname}: {shown(value)}")
            out.append(f"<rect class='bar' data-series='{escape(sname)}' "
                       f"data-value='{value:g}' x='{x:.1f}' y='{y:.1f}' width='{width:.1f}' "
                       f"height='{h:.1f}' fill='{color}' shape-rendering='crispEdges'>"
                       f"<title>{tip}</title></rect>")  # fmt: skip
        out.append(f"<text x='{LEFT + group * (i + 0.5):.1f}' y='{H - BOTTOM + 16}' "
                   f"text-anchor='middle'>{escape(label[:14])}</text>")  # fmt: skip
    out.append("</svg>")
    if len(series) > 1:
        keys = "".join(f"<span><i style='background:{c}'></i>{escape(n)}</span>"
                       for n, c, _ in series)  # fmt: skip
        out.append(f"<div class='legend'>{keys}</div>")
    return "".join(out)


def _tables(r: Insights) -> str:
    """The terminal's tables, as they read there."""
    return f"<pre>{escape(words.insights_text(r))}</pre>"
