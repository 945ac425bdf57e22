"""The typer commands for agents and messages: send, alert, inbox, ack, up, fork, down,
context, agents, report, deliver, heartbeat and watch. Registered on ttal.cli.app's app."""

from __future__ import annotations

from typing import Annotated

import typer

from ttal.cli import complete, hot, render
from ttal.cli.base import JsonOpt, _app, _finish, command, group
from ttal.errors import Exit

HERE = __name__


@command("send", HERE)
def send(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="A manager, a worker session, or human.",
            autocompletion=complete.recipients,
        ),
    ],
    message: Annotated[
        str | None, typer.Argument(help="The message; `-` or nothing reads stdin.")
    ] = None,
    key: Annotated[str, typer.Option(help="Idempotency key: a resend with it is dropped.")] = "",
    json: JsonOpt = False,
) -> None:
    """Send a message. Stored first; typed into the recipient's session, or queued while it
    is offline or busy. Never lost, never twice."""
    _finish(hot.send(message, to=to, key=key, json=json))


@command("alert", HERE)
def alert(
    message: Annotated[str | None, typer.Argument(help="What you need; `-` reads stdin.")] = None,
    key: Annotated[str, typer.Option(help="Idempotency key.")] = "",
    json: JsonOpt = False,
) -> None:
    """From a worker or review lead: ask the manager (or person) that spawned your task."""
    _finish(hot.alert(message, key=key, json=json))


@command("inbox", HERE)
def inbox(
    agent: Annotated[
        str,
        typer.Argument(
            help="Whose inbox (default: yours; a person's is `human`).",
            autocompletion=complete.recipients,
        ),
    ] = "",
    unread: Annotated[bool, typer.Option(help="Only what has not been read or delivered.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest.")] = 50,
    json: JsonOpt = False,
) -> None:
    """Messages to an agent or to you: history, and what is unread or still queued."""
    from ttal.commands.inbox import inbox as run_inbox

    render.show(run_inbox(_app(), agent, unread, limit), json, render.inbox_text)


@command("ack", HERE)
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

    render.show(run_ack(_app(), ids or [], agent), json)  # silent for people: hooks call it


# `ttal up` and `ttal down` take the same agents.
AgentsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Agents (default: every persistent one).", autocompletion=complete.agent_names
    ),
]


@command("up", HERE)
def up(
    agents: AgentsArg = None,
    json: JsonOpt = False,
) -> None:
    """Start managers (and other persistent agents) on ttal's tmux server, then deliver
    what was queued for them. Idempotent."""
    from ttal.commands.agents import up as run_up

    results = run_up(_app(), agents or [])
    render.show(results, json, render.started_text)
    _finish(Exit.ERROR if any(r.failed for r in results) else Exit.OK)


@command("fork", HERE)
def fork(
    agent: Annotated[
        str,
        typer.Argument(
            help="The agent whose conversation is copied.", autocompletion=complete.agent_names
        ),
    ],
    new: Annotated[str, typer.Option("--as", help="The agent (declared, not up) that gets it.")],
    json: JsonOpt = False,
) -> None:
    """Start agent NEW as a copy of AGENT's conversation (Claude Code or Codex); AGENT goes on."""
    from ttal.commands.agents import fork as run_fork

    render.show(run_fork(_app(), agent, new), json, render.forked_text)


@command("down", HERE)
def down(
    agents: AgentsArg = None,
    json: JsonOpt = False,
) -> None:
    """Stop managers. Idempotent; their queued messages wait for the next `ttal up`."""
    from ttal.commands.agents import down as run_down

    render.show(run_down(_app(), agents or []), json, render.stopped_agents_text)


@command("context", HERE)
def context(json: JsonOpt = False) -> None:
    """Who this agent is, its task and its queued messages (Claude Code's SessionStart hook
    adds this to the conversation)."""
    from ttal.commands.context import context as run_context

    render.show(run_context(_app()), json, render.context_text)


@command("agents", HERE)
def list_agents(json: JsonOpt = False) -> None:
    """Every agent: idle, busy, waiting, offline or stuck, for how long, its task and unread
    count."""
    from ttal.cli import render_status
    from ttal.commands.agents import agents as run_agents

    render.show(run_agents(_app()), json, render_status.agents_text)


@command("report", HERE)
def report(
    state: Annotated[str, typer.Argument(help="idle or busy.")],
    agent: Annotated[str, typer.Option(help="Whose state (default: this session's).")] = "",
    json: JsonOpt = False,
) -> None:
    """The runtime's idle, busy or waiting signal (called by Claude Code's and Codex's hooks
    and scripted agents).
    Going idle delivers what was queued."""
    _finish(hot.report(state, agent=agent, json=json))


@command("deliver", HERE)
def deliver(
    once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0,
    json: JsonOpt = False,
) -> None:
    """Deliver queued messages to every recipient that can take them (a loop; ^C stops)."""
    from ttal.commands.agents import deliver_all, deliver_loop

    app_ = _app()
    if once:
        render.show(deliver_all(app_), json, render.delivered_text)
        return
    deliver_loop(
        app_, interval, lambda counts: render.show(counts, False, render.each_delivered_text)
    )


@command("heartbeat", HERE)
def heartbeat(
    note: Annotated[str, typer.Argument(help="What you are doing (optional).")] = "",
    agent: Annotated[str, typer.Option(help="Whose (default: this session's).")] = "",
    json: JsonOpt = False,
) -> None:
    """From an agent: "still working". `ttal watch` counts it as activity, so a long quiet
    step is not reported as stuck."""
    from ttal.commands.watch import heartbeat as run_heartbeat

    render.show(run_heartbeat(_app(), note, agent), json)  # silent for people


@command("watch", HERE)
def watch(
    once: Annotated[bool, typer.Option(help="One pass, then exit (for cron and tests).")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 10.0,
    json: JsonOpt = False,
) -> None:
    """The watchdog: restart dead agents (within limits, with backoff), alert spawners about
    deaths, stuck agents and idle workers with uncommitted changes, and deliver what was
    queued. Records each task's health in its ttal_health UDA. A loop; ^C stops."""
    from ttal.commands.watch import Row, watch_loop, watch_pass

    if once:
        render.show(watch_pass(_app()), json, lambda rows: render.watch_text(render.plain(rows)))
        return

    def show(rows: list[Row]) -> None:
        if json:
            render.emit_json_line(render.plain(rows))
        else:
            render.show(render.plain(rows), False, render.watch_news_text)

    watch_loop(_app, max(interval, 0.1), show, lambda text: render.warn(f"ttal: {text}"))


diary_app = group(
    "diary", HERE, "An agent's diary: notes for its later self, shown by `ttal context`."
)


@diary_app.command("append")
def diary_append(
    text: Annotated[str, typer.Argument(help="The entry.")],
    agent: Annotated[str, typer.Option(help="Whose diary (default: this session's).")] = "",
) -> None:
    """Add an entry to a diary."""
    from ttal.commands.diary import append

    render.say(render.diary_added_text(append(_app(), text, agent)))


@diary_app.command("read")
def diary_read(
    agent: Annotated[str, typer.Argument(help="Whose diary (default: this session's).")] = "",
    tail: Annotated[int, typer.Option(help="The last N entries.")] = 20,
    json: JsonOpt = False,
) -> None:
    """Show a diary, oldest first."""
    from ttal.commands.diary import read

    render.show(read(_app(), agent, tail), json, render.diary_text)


@command("breathe", HERE)
def breathe(
    agent: Annotated[str, typer.Argument(help="The agent (default: this session's).")] = "",
    note: Annotated[str, typer.Option(help="The handoff to write into the diary first.")] = "",
    json: JsonOpt = False,
) -> None:
    """Write a handoff into the diary, restart the agent with a fresh context, and brief it.
    Works from inside the agent and from a person's shell."""
    from ttal.commands.diary import breathe as run_breathe

    render.show(run_breathe(_app(), agent, note), json, render.action_text)
