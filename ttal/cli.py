"""The typer app. It only maps options onto command functions and renders their results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ttal import output

app = typer.Typer(
    name="ttal",
    help="Run a team of AI coding agents across many git repos. Task state lives in "
    "Taskwarrior; workers run in git worktrees on ttal's own tmux server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
review_app = typer.Typer(help="The review lead's verdict (run inside a review session).")
app.add_typer(review_app, name="review")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts and agents.")]


def _app() -> Any:
    from ttal.app import App

    return App.load()


def _finish(code: int) -> None:
    if code:
        raise typer.Exit(code)


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
        output.say(cmd.STARTER.rstrip())
        return
    target = cmd.init(path, force)
    output.say(f"wrote {target}\nnext: edit projects and agents, then `ttal doctor --fix`")


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option(help="Declare the UDAs and install the hooks.")] = False,
    json: JsonOpt = False,
) -> None:
    """Check task, git, tmux, the Taskwarrior UDAs and hooks, and the projects."""
    from ttal.commands.doctor import doctor as run_doctor

    checks = run_doctor(_app(), fix)
    if json:
        output.emit_json([c.as_dict() for c in checks])
    else:
        for c in checks:
            mark = "ok " if c.ok else "BAD"
            extra = f"  [fixed: {c.fixed}]" if c.fixed else ""
            output.say(f"{mark} {c.name:<18} {c.detail}{extra}")
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
        output.emit_json(result)
    else:
        output.say(f"task {result['task'][:8]}: +{result['tag']} (round {result['round']}); "
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
        output.emit_json(result)
    else:
        output.say(f"task {result['task'][:8]}: changes requested; sent to "
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
        output.emit_json(outcome.as_dict())
    else:
        for line in outcome.did:
            output.say(f"  done: {line}")
        if outcome.message:
            output.say(f"  now:  {outcome.message}")


@app.command()
def status(json: JsonOpt = False) -> None:
    """Tasks by stage, with their worker and reviewer sessions."""
    from ttal.commands.status import status as run_status

    data = run_status(_app())
    if json:
        output.emit_json(data)
        return
    cols = ["id", "project", "stage", "worker", "reviewer", "description"]
    output.say(output.table(data["tasks"], cols, title="Tasks"))
    output.say("")
    output.say(output.table(data["sessions"], ["session", "kind"],
                            title=f"Sessions (tmux -L {data['socket']})"))  # fmt: skip
    if data["queue"]:
        output.say("")
        output.say(output.table(data["queue"], ["position", "task", "project", "reason"],
                                title="Waiting to spawn (started by `ttal watch`)"))  # fmt: skip


@app.command()
def attach(name: Annotated[str, typer.Argument(help="Session name (e.g. w-1a2b3c4d).")]) -> None:
    """Open a session on ttal's private tmux server (detach with C-b d)."""
    from ttal.commands.attach import attach as run_attach

    run_attach(_app(), name)


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


@app.command()
def send(
    to: Annotated[str, typer.Option("--to", help="A manager, a worker session, or human.")],
    message: Annotated[
        str | None, typer.Argument(help="The message; `-` or nothing reads stdin.")
    ] = None,
    key: Annotated[str, typer.Option(help="Idempotency key: a resend with it is dropped.")] = "",
    json: JsonOpt = False,
) -> None:
    """Send a message. Stored first; typed into the recipient's session, or queued while it
    is offline or busy. Never lost, never twice."""
    from ttal.commands.send import run_send

    _finish(run_send(to, message, key, json))


@app.command()
def alert(
    message: Annotated[str | None, typer.Argument(help="What you need; `-` reads stdin.")] = None,
    key: Annotated[str, typer.Option(help="Idempotency key.")] = "",
    json: JsonOpt = False,
) -> None:
    """From a worker or review lead: ask the manager (or person) that spawned your task."""
    from ttal.commands.send import run_alert

    _finish(run_alert(message, key, json))


@app.command()
def inbox(
    agent: Annotated[
        str, typer.Argument(help="Whose inbox (default: yours; a person's is `human`).")
    ] = "",
    unread: Annotated[bool, typer.Option(help="Only what has not been read or delivered.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest.")] = 50,
    json: JsonOpt = False,
) -> None:
    """Messages to an agent or to you: history, and what is unread or still queued."""
    from ttal.commands.inbox import inbox as run_inbox

    data = run_inbox(_app(), agent, unread, limit)
    if json:
        output.emit_json(data)
        return
    rows = [{**m, "body": m["body"].splitlines()[0][:80] if m["body"] else ""}
            for m in data["messages"]]  # fmt: skip
    cols = ["id", "when", "from", "status", "body"]
    output.say(output.table(rows, cols, title=f"Inbox of {data['agent']}"))


@app.command()
def ack(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Message ids; `-` reads text (e.g. a prompt) and takes its ids."),
    ] = None,
    agent: Annotated[str, typer.Option(help="Whose (default: this session's).")] = "",
    json: JsonOpt = False,
) -> None:
    """Say which messages this agent has read (a runtime hook calls it). An agent that acks
    gets what died unread with its pane typed again after a restart."""
    from ttal.commands.inbox import ack as run_ack

    result = run_ack(_app(), ids or [], agent)
    if json:
        output.emit_json(result)


@app.command()
def up(
    agents: Annotated[
        list[str] | None, typer.Argument(help="Agents (default: every persistent one).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Start managers (and other persistent agents) on ttal's tmux server, then deliver
    what was queued for them. Idempotent."""
    from ttal.commands.agents import up as run_up

    results = run_up(_app(), agents or [])
    if json:
        output.emit_json(results)
    for r in results if not json else []:
        output.say(f"{r['agent']}: {r['action']}; {r['delivered']} queued message(s) delivered")
    _finish(1 if any(r.get("failed") for r in results) else 0)


@app.command()
def fork(
    agent: Annotated[str, typer.Argument(help="The agent whose conversation is copied.")],
    new: Annotated[str, typer.Option("--as", help="The agent (declared, not up) that gets it.")],
    json: JsonOpt = False,
) -> None:
    """Start agent NEW as a copy of AGENT's conversation (Claude Code only); AGENT goes on."""
    from ttal.commands.agents import fork as run_fork

    result = run_fork(_app(), agent, new)
    if json:
        output.emit_json(result)
    else:
        output.say(f"{result['agent']}: forked from {result['from']} "
                   f"(session {result['session_id']})")  # fmt: skip


@app.command()
def down(
    agents: Annotated[
        list[str] | None, typer.Argument(help="Agents (default: every persistent one).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Stop managers. Idempotent; their queued messages wait for the next `ttal up`."""
    from ttal.commands.agents import down as run_down

    results = run_down(_app(), agents or [])
    if json:
        output.emit_json(results)
    for r in results if not json else []:
        output.say(f"{r['agent']}: {r['action']}")


@app.command()
def context(json: JsonOpt = False) -> None:
    """Who this agent is, its task and its queued messages (Claude Code's SessionStart hook
    adds this to the conversation)."""
    from ttal.commands.context import context as run_context
    from ttal.commands.context import render

    data = run_context(_app())
    if json:
        output.emit_json(data)
    else:
        output.say(render(data))


@app.command("agents")
def list_agents(json: JsonOpt = False) -> None:
    """Every agent: idle, busy, offline or stuck, for how long, its task and unread count."""
    from ttal.commands.agents import agents as run_agents

    rows = run_agents(_app())
    if json:
        output.emit_json(rows)
        return
    output.say(output.table(rows, ["agent", "role", "state", "for", "task", "unread"]))


@app.command()
def report(
    state: Annotated[str, typer.Argument(help="idle or busy.")],
    agent: Annotated[str, typer.Option(help="Whose state (default: this session's).")] = "",
    json: JsonOpt = False,
) -> None:
    """The runtime's idle/busy signal (called by Claude Code's hooks and scripted agents).
    Going idle delivers what was queued."""
    from ttal.commands.agents import run_report

    _finish(run_report(state, agent, json))


@app.command()
def deliver(
    once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0,
    json: JsonOpt = False,
) -> None:
    """Deliver queued messages to every recipient that can take them (a loop; ^C stops)."""
    from ttal.commands.agents import deliver_all, deliver_loop

    app_ = _app()
    if once:
        counts = deliver_all(app_)
        if json:
            output.emit_json(counts)
        else:
            output.say(f"delivered {sum(counts.values())} message(s)")
        return
    deliver_loop(app_, interval, output.say)


journal_app = typer.Typer(help="The action journal: intents a crash left open, and settling them.")
app.add_typer(journal_app, name="journal")


@journal_app.callback(invoke_without_command=True)
def journal_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List pending and flagged intents (external mutations not known to be finished)."""
    if ctx.invoked_subcommand:
        return
    from ttal.journal import listing

    rows = [i.as_dict() for i in listing(_app())]
    if json:
        output.emit_json(rows)
        return
    for row in rows:
        row["detail"] = ", ".join(f"{k}={v}" for k, v in row["detail"].items())[:70]
    cols = ["id", "state", "action", "tier", "blast", "task", "note", "detail"]
    output.say(output.table(rows, cols, title="Open intents"))


@journal_app.command("resolve")
def journal_resolve(
    intent_id: Annotated[int, typer.Argument(help="The intent's id (from `ttal journal`).")],
    note: Annotated[str, typer.Option(help="What you checked or did.")] = "",
) -> None:
    """Settle a flagged intent by hand, once you have checked the world yourself."""
    from ttal.journal import resolve

    item = resolve(_app(), intent_id, note)
    output.say(f"intent #{item.id} ({item.action}) resolved")


@app.command()
def recover(json: JsonOpt = False) -> None:
    """Settle every intent a crash left pending: check the world, then complete, skip or
    flag each. `ttal go` does this for its own task."""
    from ttal.recover import recover as run_recover

    settled = run_recover(_app())
    if json:
        output.emit_json(settled)
        return
    for item in settled:
        output.say(f"#{item['id']} {item['action']}: {item['state']}: {item['note']}")
    if not settled:
        output.say("nothing to recover")


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
        output.emit_json(items)
        return
    title = "ttal gc --dry-run (nothing was changed)" if dry_run else "ttal gc"
    output.say(output.table(items, ["kind", "name", "action", "reason"], title=title))


@app.command()
def heartbeat(
    note: Annotated[str, typer.Argument(help="What you are doing (optional).")] = "",
    agent: Annotated[str, typer.Option(help="Whose (default: this session's).")] = "",
    json: JsonOpt = False,
) -> None:
    """From an agent: "still working". `ttal watch` counts it as activity, so a long quiet
    step is not reported as stuck."""
    from ttal.commands.watch import heartbeat as run_heartbeat

    result = run_heartbeat(_app(), note, agent)
    if json:
        output.emit_json(result)


@app.command()
def watch(
    once: Annotated[bool, typer.Option(help="One pass, then exit (for cron and tests).")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 10.0,
    json: JsonOpt = False,
) -> None:
    """The watchdog: restart dead agents (within limits, with backoff), alert spawners about
    deaths, stuck agents and idle workers with uncommitted changes, and deliver what was
    queued. Records each task's health in its ttal_health UDA. A loop; ^C stops."""
    from ttal.commands.watch import watch_loop, watch_pass

    if once:
        rows = watch_pass(_app())
        if json:
            output.emit_json(rows)
        else:
            output.say(_watch_table(rows))
        return

    def show(rows: list[dict[str, Any]]) -> None:  # a quiet pass prints nothing
        import json as jsonlib

        news = [r for r in rows if r["did"] or r["health"] not in ("", "ok")]
        if json:
            output.say(jsonlib.dumps(rows, default=str))  # one line per pass
        elif news:
            output.say(_watch_table(news))

    watch_loop(_app, max(interval, 0.1), show, lambda text: output.warn(f"ttal: {text}"))


def _watch_table(rows: list[dict[str, Any]]) -> str:
    import time

    shown = [{**r, "task": r["task"][:8], "did": "; ".join(r["did"])} for r in rows]
    cols = ["agent", "kind", "task", "state", "health", "did"]
    return output.table(shown, cols, title=f"ttal watch {time.strftime('%H:%M:%S')}")
