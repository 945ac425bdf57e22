"""The typer commands for tasks: init, doctor, go, review, approve, status, history, attach,
demo, journal, recover, gc and server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ttal.cli import complete, hot, render
from ttal.cli.base import JsonOpt, _app, _finish, command, group
from ttal.errors import Exit, UsageError

HERE = __name__
review_app = group("review", HERE, "The review lead's verdict (run inside a review session).")


@command("init", HERE)
def init(
    path: Annotated[
        Path | None,
        typer.Option(help="Where to write (default: $TTAL_CONFIG or ~/.config/ttal/ttal.yaml)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the starter; write nothing.")
    ] = False,
) -> None:
    """Write a commented starter ttal.yaml."""
    from ttal.commands import init as cmd

    if print_only:
        render.say(cmd.STARTER.rstrip())
        return
    target = cmd.init(path, force)
    render.say(render.init_text(target))


@command("doctor", HERE)
def doctor(
    fix: Annotated[bool, typer.Option(help="Declare the UDAs and install the hooks.")] = False,
    json: JsonOpt = False,
) -> None:
    """Check task, git, tmux, the Taskwarrior UDAs and hooks, and the projects."""
    from ttal.commands.doctor import doctor as run_doctor

    checks = run_doctor(_app(), fix)
    render.show(checks, json, render.doctor_text)
    _finish(Exit.OK if all(c.ok for c in checks) else Exit.ERROR)


@command("go", HERE)
def go(
    task: Annotated[
        str | None,
        typer.Argument(
            help="Task id or uuid (implied inside a worker or reviewer session).",
            autocompletion=complete.task_ids,
        ),
    ] = None,
    note: Annotated[str, typer.Option(help="Record a note with this step.")] = "",
    json: JsonOpt = False,
) -> None:
    """Do the next step of a task's pipeline: spawn, advance, review, merge. Safe to repeat."""
    _finish(hot.go(task, note=note, json=json))


@review_app.command("approve")
def review_approve(
    note: Annotated[str, typer.Option(help="Why it is good.")] = "",
    json: JsonOpt = False,
) -> None:
    """Approve the current review round: adds the stage's approve tag (e.g. +lgtm)."""
    from ttal.commands.review import approve

    render.show(approve(_app(), note), json, render.approved_text)


@review_app.command("changes")
def review_changes(
    message: Annotated[str, typer.Argument(help="What must change.")],
    json: JsonOpt = False,
) -> None:
    """Request changes: the worker gets MESSAGE in its session; the review round goes up."""
    from ttal.commands.review import request_changes

    render.show(request_changes(_app(), message), json, render.changes_text)


@command("approve", HERE)
def approve(
    task: Annotated[str, typer.Argument(help="Task id or uuid.", autocompletion=complete.task_ids)],
    budget: Annotated[
        str,
        typer.Option(
            help="Approve this much more budget ($5, 500k tokens) for a task stopped "
            "at its limit, instead of passing a gate."
        ),
    ] = "",
    json: JsonOpt = False,
) -> None:
    """Pass a human gate (from your own shell). Recorded on the task; never asked twice.
    With --budget: let a task stopped at its budget go on (docs/cost.md)."""
    if budget:
        from ttal.cli.render_cost import budget_approved_text
        from ttal.commands.cost import approve_budget

        render.show(approve_budget(_app(), task, budget), json, budget_approved_text)
        return
    from ttal.commands.review import human_approve

    render.show(human_approve(_app(), task), json, render.steps_text)


@command("cost", HERE)
def cost(
    task: Annotated[
        str | None, typer.Argument(help="Only this task.", autocompletion=complete.task_ids)
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Tokens and dollars per task and stage, read from the runtimes' transcripts."""
    from ttal.cli.render_cost import cost_text
    from ttal.commands.cost import cost as run_cost

    render.show(run_cost(_app(), task or ""), json, cost_text)


@command("status", HERE)
def status(
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Redraw it full-screen until q or ^C.")
    ] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between redraws with --watch.", min=0.2)
    ] = 2.0,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every row, even past the terminal's height.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """The fleet at a glance: agents, tasks by stage (age, last activity, health), queues,
    what the journal flagged, counts by stage. One `task` call, however long your history."""
    from ttal.cli import render_status
    from ttal.commands.status import status as run_status

    if watch:
        from ttal.cli import status_screen

        if json:
            raise UsageError("--watch draws for a person; --json is for scripts", hint="pick one")
        app_ = _app()
        status_screen.watch(lambda: run_status(app_), interval)
        return
    report = run_status(_app())
    size = render_status.screen_size(show_all)
    render.show(report, json, lambda r: render_status.dashboard(r, *size))
    if not json:
        for text in report.conflicts:  # someone changed a fact ttal wrote: for a person
            render.warn(f"ttal: {text}")


@command("history", HERE)
def history(
    days: Annotated[int, typer.Option(help="Finished in the last DAYS days.")] = 7,
    project: Annotated[str, typer.Option(help="Only this project's tasks.")] = "",
    json: JsonOpt = False,
) -> None:
    """What tasks changed: each branch in flight against its base, and what the merges of
    recently finished tasks brought in (files, lines added and removed)."""
    from ttal.commands.history import run_history

    render.show(run_history(_app(), days, project), json, render.history_text(days))


@command("attach", HERE)
def attach(
    name: Annotated[
        str,
        typer.Argument(
            help="Session name (e.g. w-1a2b3c4d).", autocompletion=complete.session_names
        ),
    ],
    screen: Annotated[bool, typer.Option(help="Print what its agent shows; no terminal.")] = False,
    lines: Annotated[int, typer.Option(help="With --screen: this many last lines.")] = 50,
    json: JsonOpt = False,
) -> None:
    """Open a session on ttal's private tmux server (detach with C-b d), or with --screen
    print what its agent shows (no terminal needed)."""
    from ttal.commands import attach as cmd

    if not (screen or json):
        return cmd.attach(_app(), name)
    render.show(cmd.screen(_app(), name, max(lines, 1)), json, render.screen_text)


@command("demo", HERE)
def demo(
    keep: Annotated[bool, typer.Option(help="Leave the sandbox and sessions for a look.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help="Sandbox directory.")] = None,
    json: JsonOpt = False,
) -> None:
    """Run a whole pipeline with scripted agents in a sandbox: real task, git and tmux."""
    from ttal.commands.demo import run_demo

    def progress(elapsed: float, text: str) -> None:
        if not json:
            render.say(render.demo_line(elapsed, text))

    summary = run_demo(keep=keep, directory=directory, progress=progress)
    render.show(summary, json, render.demo_text)
    _finish(summary.exit_code)


journal_app = group(
    "journal", HERE, "The action journal: intents a crash left open, and settling them."
)


@journal_app.callback(invoke_without_command=True)
def journal_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List pending and flagged intents (external mutations not known to be finished)."""
    if ctx.invoked_subcommand:
        return
    from ttal.engine.journal import listing

    render.show(listing(_app()), json, render.journal_text)


@journal_app.command("resolve")
def journal_resolve(
    intent_id: Annotated[int, typer.Argument(help="The intent's id (from `ttal journal`).")],
    note: Annotated[str, typer.Option(help="What you checked or did.")] = "",
) -> None:
    """Settle a flagged intent by hand, once you have checked the world yourself."""
    from ttal.engine.journal import resolve

    render.say(render.resolved_text(resolve(_app(), intent_id, note)))


@command("recover", HERE)
def recover(json: JsonOpt = False) -> None:
    """Settle every intent a crash left pending: check the world, then complete, skip or
    flag each. `ttal go` does this for its own task."""
    from ttal.engine.recovery import recover as run_recover

    render.show(run_recover(_app(), standing=True), json, render.recovered_text)


@command("gc", HERE)
def gc(
    dry_run: Annotated[bool, typer.Option(help="Show what would go; change nothing.")] = False,
    include_ignored: Annotated[
        bool,
        typer.Option(help="Also remove worktrees that hold files git ignores (.env, builds)."),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Remove what finished tasks left: their sessions, clean worktrees and merged branches
    (unmerged ones are archived under refs/ttal/archive/), and stale lock files. Each is
    decided under its task's lock, so a task started meanwhile keeps its things.

    A clean worktree may still hold files git ignores (a worker's .env, build state): gc
    names them (--dry-run and --json list them per worktree) and keeps that worktree and its
    branch unless --include-ignored is given."""
    from ttal.commands.gc import gc as run_gc

    render.show(run_gc(_app(), dry_run, include_ignored), json, render.gc_text(dry_run))


@command("server", HERE)
def server(
    action: Annotated[str, typer.Argument(help="status, start or stop.")] = "status",
    json: JsonOpt = False,
) -> None:
    """The warm server: it keeps ttal imported and runs hot commands (go, send, alert,
    report, status...) in a forked child, ~100 ms faster each. The first such command starts
    it; it leaves after 15 idle minutes (TTAL_SERVER_IDLE seconds). TTAL_SERVER=off turns
    it off."""
    from ttal.commands import server as cmd
    from ttal.errors import UsageError

    if action == "stop":
        render.show(cmd.stop(), json, render.stopped_text)
        return
    if action not in ("status", "start"):
        raise UsageError(f"unknown action {action!r}", hint="use status, start or stop")
    info = cmd.start() if action == "start" else cmd.status()
    render.show(info, json, render.server_text)
    if action == "start" and not info.running:
        _finish(Exit.EXTERNAL)  # none answered: `ttal server status` says where it looked
