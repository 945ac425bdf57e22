"""The typer commands for looking back: `ttal log TASK` and `ttal insights`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ttal.cli import complete, render
from ttal.cli.base import JsonOpt, _app, command

HERE = __name__


@command("log", HERE)
def log(
    task: Annotated[str, typer.Argument(help="Task id or uuid.", autocompletion=complete.task_ids)],
    json: JsonOpt = False,
) -> None:
    """Everything that happened to one task, oldest first: Taskwarrior's entry, annotations
    and end; the tags ttal wrote; ttal's events (spawns, restarts, review rounds, verdicts,
    merges, the watchdog's findings, and any newer kind); the journal's intents; the
    messages and alerts about it. Above it, each stage with its start, end, time taken and
    review rounds."""
    from ttal.cli.render_insights import log_text
    from ttal.commands.task_log import task_log

    render.show(task_log(_app(), task), json, log_text)


@command("insights", HERE)
def insights(
    since: Annotated[
        str, typer.Option(help="The window: 7d, 12h, 30m, 2w back from now, or a date.")
    ] = "7d",
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the report with charts to this one HTML file."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """The weekly review, from what ttal recorded: throughput per agent and per role, cycle
    time per stage (p50, p90), review rounds and the rework rate, time stuck, dead or
    waiting for a person, flagged and failed actions of the journal, tasks merged per day,
    the slowest tasks. --html writes one self-contained file (charts as inline SVG; no
    network needed to view it). docs/insights.md defines each figure."""
    from ttal.cli.render_insights import insights_text
    from ttal.commands.insights import insights as run_insights

    report = run_insights(_app(), since)
    if html is not None:
        from ttal.cli.render_html import page
        from ttal.errors import UsageError

        try:
            html.write_text(page(report), encoding="utf-8")
        except OSError as err:
            raise UsageError(f"cannot write {html}: {err.strerror}",
                             hint="give a path in a folder you can write") from None  # fmt: skip
    render.show(report, json, insights_text)
    if html is not None and not json:
        render.say(f"\nwrote {html}")
