"""The typer commands for tasks: init, doctor, go, review, approve, status, history, attach,
demo, journal, recover, gc and server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ttal.cli import render
from ttal.cli.base import JsonOpt, _app, _finish, app, review_app


@app.command()
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
    render.say(f"wrote {target}\nnext: edit projects and agents, then `ttal doctor --fix`")


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option(help="Declare the UDAs and install the hooks.")] = False,
    json: JsonOpt = False,
) -> None:
    """Check task, git, tmux, the Taskwarrior UDAs and hooks, and the projects."""
    from ttal.commands.doctor import doctor as run_doctor

    checks = run_doctor(_app(), fix)
    if json:
        render.emit_json([c.as_dict() for c in checks])
    else:
        for c in checks:
            mark = "ok " if c.ok else "BAD"
            extra = f"  [fixed: {c.fixed}]" if c.fixed else ""
            render.say(f"{mark} {c.name:<18} {c.detail}{extra}")
    _finish(0 if all(c.ok for c in checks) else 1)


@app.command()
def go(
    task: Annotated[
        str | None,
        typer.Argument(help="Task id or uuid (implied inside a worker or reviewer session)."),
    ] = None,
    note: Annotated[str, typer.Option(help="Record a note with this step.")] = "",
    json: JsonOpt = False,
) -> None:
    """Do the next step of a task's pipeline: spawn, advance, review, merge. Safe to repeat."""
    from ttal.commands.go import run

    _finish(run(task, note, json))


@review_app.command("approve")
def review_approve(
    note: Annotated[str, typer.Option(help="Why it is good.")] = "",
    json: JsonOpt = False,
) -> None:
    """Approve the current review round: adds the stage's approve tag (e.g. +lgtm)."""
    from ttal.commands.review import approve

    result = approve(_app(), note)
    if json:
        render.emit_json(result)
    else:
        render.say(f"task {result['task'][:8]}: +{result['tag']} (round {result['round']}); "
                   "ttal continues the pipeline in the background")  # fmt: skip


@review_app.command("changes")
def review_changes(
    message: Annotated[str, typer.Argument(help="What must change.")],
    json: JsonOpt = False,
) -> None:
    """Request changes: the worker gets MESSAGE in its session; the review round goes up."""
    from ttal.commands.review import request_changes

    result = request_changes(_app(), message)
    if json:
        render.emit_json(result)
    else:
        render.say(f"task {result['task'][:8]}: changes requested; sent to "
                   f"{result['delivered_to']}; next round {result['round']}")  # fmt: skip


@app.command()
def approve(
    task: Annotated[str, typer.Argument(help="Task id or uuid.")],
    json: JsonOpt = False,
) -> None:
    """Pass a human gate (from your own shell). Recorded on the task; never asked twice."""
    from ttal.commands.review import human_approve

    outcome = human_approve(_app(), task)
    if json:
        render.emit_json(outcome.as_dict())
    else:
        for line in outcome.did:
            render.say(f"  done: {line}")
        if outcome.message:
            render.say(f"  now:  {outcome.message}")


@app.command()
def status(json: JsonOpt = False) -> None:
    """Tasks by stage, with their worker and reviewer sessions."""
    from ttal.commands.status import status as run_status

    data = run_status(_app())
    if json:
        render.emit_json(data)
        return
    cols = ["id", "project", "stage", "worker", "reviewer", "description"]
    render.say(render.table(data["tasks"], cols, title="Tasks"))
    render.say("")
    render.say(render.table(data["sessions"], ["session", "kind"],
                            title=f"Sessions (tmux -L {data['socket']})"))  # fmt: skip
    if data["queue"]:
        render.say("")
        render.say(render.table(data["queue"], ["position", "task", "project", "reason"],
                                title="Waiting to spawn (started by `ttal watch`)"))  # fmt: skip
    for text in data["conflicts"]:
        render.warn(render.printable(f"ttal: {text}"))


@app.command()
def history(
    days: Annotated[int, typer.Option(help="Finished in the last DAYS days.")] = 7,
    project: Annotated[str, typer.Option(help="Only this project's tasks.")] = "",
    json: JsonOpt = False,
) -> None:
    """What tasks changed: each branch in flight against its base, and what the merges of
    recently finished tasks brought in (files, lines added and removed)."""
    from ttal.commands.history import run_history

    data = run_history(_app(), days, project)
    if json:
        render.emit_json({k: [r.as_dict() for r in rows] for k, rows in data.items()})
        return
    live, done = ([_history_cells(r) for r in data[k]] for k in ("in_flight", "finished"))
    render.say(render.table(live, ["task", "project", "ahead", "change", "description"],
                            title="In flight: each branch against its base"))  # fmt: skip
    render.say("")
    title = f"Finished in the last {days} day(s): what each merge brought in"
    render.say(render.table(done, ["task", "project", "ended", "rounds", "change", "description"],
                            title=title))  # fmt: skip


def _history_cells(row: Any) -> dict[str, Any]:
    t = row.task
    return {"task": t.uuid[:8], "project": t.project, "ahead": row.ahead, "rounds": t.rounds,
            "ended": f"{t.end:%Y-%m-%d %H:%M}" if t.end else "", "change": row.change or "-",
            "description": render.printable(t.description)}  # fmt: skip


@app.command()
def attach(
    name: Annotated[str, typer.Argument(help="Session name (e.g. w-1a2b3c4d).")],
    screen: Annotated[bool, typer.Option(help="Print what its agent shows; no terminal.")] = False,
    lines: Annotated[int, typer.Option(help="With --screen: this many last lines.")] = 50,
    json: JsonOpt = False,
) -> None:
    """Open a session on ttal's private tmux server (detach with C-b d), or with --screen
    print what its agent shows (no terminal needed)."""
    from dataclasses import asdict

    from ttal.commands import attach as cmd

    if not (screen or json):
        return cmd.attach(_app(), name)
    seen = cmd.screen(_app(), name, max(lines, 1))
    if json:
        return render.emit_json(asdict(seen))
    state = "exited" if seen.dead else f"running {seen.command} (pid {seen.pid})"
    render.say(f"{seen.session} pane {seen.pane}, {seen.size}: {state}")
    render.say(render.printable("\n".join(seen.lines)))


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Leave the sandbox and sessions for a look.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help="Sandbox directory.")] = None,
    json: JsonOpt = False,
) -> None:
    """Run a whole pipeline with scripted agents in a sandbox: real task, git and tmux."""
    from ttal.commands.demo import run_demo

    code = run_demo(keep=keep, directory=directory, as_json=json)
    _finish(code)


journal_app = typer.Typer(help="The action journal: intents a crash left open, and settling them.")
app.add_typer(journal_app, name="journal")


@journal_app.callback(invoke_without_command=True)
def journal_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List pending and flagged intents (external mutations not known to be finished)."""
    if ctx.invoked_subcommand:
        return
    from ttal.engine.journal import listing

    rows = [i.as_dict() for i in listing(_app())]
    if json:
        render.emit_json(rows)
        return
    for row in rows:
        row["detail"] = ", ".join(f"{k}={v}" for k, v in row["detail"].items())[:70]
    cols = ["id", "state", "action", "tier", "blast", "task", "note", "detail"]
    render.say(render.table(rows, cols, title="Open intents"))


@journal_app.command("resolve")
def journal_resolve(
    intent_id: Annotated[int, typer.Argument(help="The intent's id (from `ttal journal`).")],
    note: Annotated[str, typer.Option(help="What you checked or did.")] = "",
) -> None:
    """Settle a flagged intent by hand, once you have checked the world yourself."""
    from ttal.engine.journal import resolve

    item = resolve(_app(), intent_id, note)
    render.say(f"intent #{item.id} ({item.action}) resolved")


@app.command()
def recover(json: JsonOpt = False) -> None:
    """Settle every intent a crash left pending: check the world, then complete, skip or
    flag each. `ttal go` does this for its own task."""
    from ttal.engine.recovery import recover as run_recover

    settled = run_recover(_app(), standing=True)
    if json:
        render.emit_json(settled)
        return
    for item in settled:
        render.say(f"#{item['id']} {item['action']}: {item['state']}: {item['note']}")
    if not settled:
        render.say("nothing to recover")


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option(help="Show what would go; change nothing.")] = False,
    json: JsonOpt = False,
) -> None:
    """Remove what finished tasks left: their sessions, clean worktrees and merged branches
    (unmerged ones are archived under refs/ttal/archive/), and stale lock files."""
    from ttal.commands.gc import gc as run_gc

    items = [item.as_dict() for item in run_gc(_app(), dry_run)]
    if json:
        render.emit_json(items)
        return
    title = "ttal gc --dry-run (nothing was changed)" if dry_run else "ttal gc"
    render.say(render.table(items, ["kind", "name", "action", "reason"], title=title))


@app.command()
def server(
    action: Annotated[str, typer.Argument(help="status, start or stop.")] = "status",
    json: JsonOpt = False,
) -> None:
    """The warm server: it keeps ttal imported and runs hot commands (go, send, alert,
    report, status...) in a forked child, ~100 ms faster each. The first such command starts
    it; it leaves after 15 idle minutes (TTAL_SERVER_IDLE seconds). TTAL_SERVER=off turns
    it off."""
    from ttal.errors import UsageError
    from ttal.warm import control as cmd

    actions = {"status": cmd.status, "start": cmd.start, "stop": cmd.stop}
    if action not in actions:
        raise UsageError(f"unknown action {action!r}", hint="use status, start or stop")
    info = actions[action]()
    if json:
        render.emit_json(info)
        return
    if action == "stop":
        render.say(f"stopped server {info['pid']}" if info["stopped"] else "no server was running")
    elif info["running"]:
        render.say(
            f"server {info['pid']} on {info['socket']}: up {info['uptime_s']} s, "
            f"{info['commands_served']} commands served, {info['commands_running']} running"
        )
    else:
        state = "enabled" if info["enabled"] else "off (TTAL_SERVER=off)"
        render.say(f"no server running on {info['socket']}; {state}")
    if action == "start" and not info["running"]:
        _finish(15)
