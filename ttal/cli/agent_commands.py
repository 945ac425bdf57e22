"""The typer commands for agents and messages: send, alert, inbox, ack, up, fork, down,
context, agents, report, deliver, heartbeat and watch. Registered on ttal.cli.app's app."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ttal.cli import render
from ttal.cli.base import JsonOpt, _app, _finish, app


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
        render.emit_json(data)
        return
    rows = [{**m, "body": m["body"].splitlines()[0][:80] if m["body"] else ""}
            for m in data["messages"]]  # fmt: skip
    cols = ["id", "when", "from", "status", "body"]
    render.say(render.table(rows, cols, title=f"Inbox of {data['agent']}"))


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
        render.emit_json(result)


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
        render.emit_json(results)
    for r in results if not json else []:
        render.say(f"{r['agent']}: {r['action']}; {r['delivered']} queued message(s) delivered")
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
        render.emit_json(result)
    else:
        render.say(f"{result['agent']}: forked from {result['from']} "
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
        render.emit_json(results)
    for r in results if not json else []:
        render.say(f"{r['agent']}: {r['action']}")


@app.command()
def context(json: JsonOpt = False) -> None:
    """Who this agent is, its task and its queued messages (Claude Code's SessionStart hook
    adds this to the conversation)."""
    from ttal.commands.context import context as run_context
    from ttal.commands.context import render as render_context

    data = run_context(_app())
    if json:
        render.emit_json(data)
    else:
        render.say(render_context(data))


@app.command("agents")
def list_agents(json: JsonOpt = False) -> None:
    """Every agent: idle, busy, offline or stuck, for how long, its task and unread count."""
    from ttal.commands.agents import agents as run_agents

    rows = run_agents(_app())
    if json:
        render.emit_json(rows)
        return
    render.say(render.table(rows, ["agent", "role", "state", "for", "task", "unread"]))


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
            render.emit_json(counts)
        else:
            render.say(f"delivered {sum(counts.values())} message(s)")
        return
    deliver_loop(app_, interval, render.say)


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
        render.emit_json(result)


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
            render.emit_json(rows)
        else:
            render.say(_watch_table(rows))
        return

    def show(rows: list[dict[str, Any]]) -> None:  # a quiet pass prints nothing
        import json as jsonlib

        news = [r for r in rows if r["did"] or r["health"] not in ("", "ok")]
        if json:
            render.say(jsonlib.dumps(rows, default=str))  # one line per pass
        elif news:
            render.say(_watch_table(news))

    watch_loop(_app, max(interval, 0.1), show, lambda text: render.warn(f"ttal: {text}"))


def _watch_table(rows: list[dict[str, Any]]) -> str:
    import time

    shown = [{**r, "task": r["task"][:8], "did": "; ".join(r["did"])} for r in rows]
    cols = ["agent", "kind", "task", "state", "health", "did"]
    return render.table(shown, cols, title=f"ttal watch {time.strftime('%H:%M:%S')}")


diary_app = typer.Typer(help="An agent's diary: notes for its later self, shown by `ttal context`.")
app.add_typer(diary_app, name="diary")


@diary_app.command("append")
def diary_append(
    text: Annotated[str, typer.Argument(help="The entry.")],
    agent: Annotated[str, typer.Option(help="Whose diary (default: this session's).")] = "",
) -> None:
    """Add an entry to a diary."""
    from ttal.commands.diary import append

    result = append(_app(), text, agent)
    render.say(f"{result['agent']}'s diary: added")


@diary_app.command("read")
def diary_read(
    agent: Annotated[str, typer.Argument(help="Whose diary (default: this session's).")] = "",
    tail: Annotated[int, typer.Option(help="The last N entries.")] = 20,
    json: JsonOpt = False,
) -> None:
    """Show a diary, oldest first."""
    from ttal.commands.diary import read

    data = read(_app(), agent, tail)
    if json:
        render.emit_json(data)
        return
    for entry in data["entries"]:
        render.say(f"{entry['when']}  {entry['text']}")


@app.command()
def breathe(
    agent: Annotated[str, typer.Argument(help="The agent (default: this session's).")] = "",
    note: Annotated[str, typer.Option(help="The handoff to write into the diary first.")] = "",
    json: JsonOpt = False,
) -> None:
    """Write a handoff into the diary, restart the agent with a fresh context, and brief it.
    Works from inside the agent and from a person's shell."""
    from ttal.commands.diary import breathe as run_breathe

    result = run_breathe(_app(), agent, note)
    if json:
        render.emit_json(result)
    else:
        render.say(f"{result['agent']}: {result['action']}")
