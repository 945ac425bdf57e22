"""The one renderer: command results as text for people, or JSON for scripts and agents.

Commands return typed results (small dataclasses with `as_dict`, or lists of them); the cli
hands each to `show` with the function here that words it for people. Nothing else in ttal
prints a command's result.

Text for people leaves through `say` and `warn` only, and both make it inert (`printable`):
descriptions, bodies, agents' names and captured screens come from outside, and a clear
screen, a clipboard write (OSC 52) or a link (OSC 8) in one must show as text, not act in
the person's terminal. JSON escapes control characters itself.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # the results' types only: importing them here would slow every start
    from pathlib import Path

    from ttal.adapters.tmux import Screen
    from ttal.commands.agents import AgentAction, Forked, Started
    from ttal.commands.context import Briefing
    from ttal.commands.demo import DemoSummary
    from ttal.commands.diary import Diary, Written
    from ttal.commands.doctor import Check
    from ttal.commands.history import Changes
    from ttal.commands.history import Row as HistoryRow
    from ttal.commands.inbox import Inbox
    from ttal.commands.review import Approved, ChangesRequested
    from ttal.commands.send import Sent
    from ttal.commands.server import ServerState, Stopped
    from ttal.engine.drive import Outcome
    from ttal.engine.journal import Intent
    from ttal.engine.sweep import Item

R = TypeVar("R")


def show(result: R, as_json: bool, text: Callable[[R], str] | None = None) -> None:
    """JSON of the result, or its text for people (nothing when `text` is None or empty)."""
    if as_json:
        emit_json(plain(result))
    elif text is not None:
        words = text(result)
        if words:
            say(words)


def plain(value: Any) -> Any:
    """A result as JSON data: a typed result by its `as_dict`, lists item by item."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):  # a plain record (a tmux Screen)
        from dataclasses import asdict

        return asdict(value)
    return value


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def emit_json_line(data: Any) -> None:
    """One line of JSON: a loop's pass (`ttal watch --json`), one per line."""
    say(json.dumps(data, default=str))


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str = "") -> str:
    """A plain aligned table (no rich import: it costs ~30 ms at start-up)."""
    head = [title] if title else []
    if not rows:
        return "\n".join([*head, "  (none)"])
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join([*head, line.rstrip(), *body])


def _cell(value: Any) -> str:
    """One table cell: inert, and on one line (a newline in a description would start a
    row of its own), so the widths are measured on what is shown."""
    return printable(str(value)).replace("\n", "\\n").replace("\t", "\\t")


PLAIN = re.compile(r"[\x20-\x7e\n\t]*")  # printable ASCII: nothing to escape (most text)


def printable(text: str) -> str:
    """Every character that could act in a terminal shown as its Python escape (ESC
    `\\x1b`, C1 CSI `\\x9b`, LINE SEPARATOR `\\u2028`, a zero-width space `\\u200b`):
    what str.isprintable rejects. Newline and tab stay. Idempotent: its output is all
    printable."""
    if PLAIN.fullmatch(text):
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)


def say(text: str) -> None:
    sys.stdout.write(printable(text) + "\n")
    sys.stdout.flush()


def warn(text: str) -> None:
    sys.stderr.write(printable(text) + "\n")


def lines(*parts: str) -> str:
    return "\n".join(parts)


# ---- tasks -------------------------------------------------------------------------------


def init_text(target: Path) -> str:
    return f"wrote {target}\nnext: edit projects and agents, then `ttal doctor --fix`"


def outcome_text(outcome: Outcome) -> str:
    """`ttal go`: the task, what was done, and what happens now."""
    return lines(f"task {outcome.task[:8]} ({outcome.description})", *_steps(outcome))


def steps_text(outcome: Outcome) -> str:
    """`ttal approve`: what was done and what happens now."""
    return lines(*_steps(outcome))


def _steps(outcome: Outcome) -> list[str]:
    done = [f"  done: {line}" for line in outcome.did]
    return [*done, *([f"  now:  {outcome.message}"] if outcome.message else [])]


def approved_text(result: Approved) -> str:
    return (f"task {result.task[:8]}: +{result.tag} (round {result.round}); "
            "ttal continues the pipeline in the background")  # fmt: skip


def changes_text(result: ChangesRequested) -> str:
    return (f"task {result.task[:8]}: changes requested; sent to {result.delivered_to}; "
            f"next round {result.round}")  # fmt: skip


def doctor_text(checks: list[Check]) -> str:
    return lines(*(f"{'ok ' if c.ok else 'BAD'} {c.name:<18} {c.detail}"
                   + (f"  [fixed: {c.fixed}]" if c.fixed else "") for c in checks))  # fmt: skip


def journal_text(intents: list[Intent]) -> str:
    rows = [i.as_dict() for i in intents]
    for row in rows:
        row["detail"] = ", ".join(f"{k}={v}" for k, v in row["detail"].items())[:70]
    cols = ["id", "state", "action", "tier", "blast", "task", "note", "detail"]
    return table(rows, cols, title="Open intents")


def resolved_text(intent: Intent) -> str:
    return f"intent #{intent.id} ({intent.action}) resolved"


def recovered_text(settled: list[dict[str, Any]]) -> str:
    if not settled:
        return "nothing to recover"
    return lines(*(f"#{i['id']} {i['action']}: {i['state']}: {i['note']}" for i in settled))


def gc_text(dry_run: bool) -> Callable[[list[Item]], str]:
    title = "ttal gc --dry-run (nothing was changed)" if dry_run else "ttal gc"
    cols = ["kind", "name", "action", "reason"]
    return lambda items: table([i.as_dict() for i in items], cols, title=title)


def server_text(info: ServerState) -> str:
    if info.running:
        return (
            f"server {info.pid} on {info.socket}: up {info.uptime_s} s, "
            f"{info.commands_served} commands served, {info.commands_running} running"
            + (f" (at most {info.max_children}), {info.commands_waiting} waiting"
               if info.max_children else "")
        )  # fmt: skip
    if info.refused:
        return refused_text(info.socket)
    state = "enabled" if info.enabled else "off (TTAL_SERVER=off)"
    return f"no server running on {info.socket}; {state}"


def refused_text(socket: str) -> str:
    return (
        f"no server: {os.path.dirname(socket)} is not yours alone (a link, another user's, "
        "or open to others), so none is used there and every command runs in-process\n"
        "  hint: remove it if you did not make it, or set TTAL_RUNTIME_DIR to a folder of yours"
    )


def stopped_text(info: Stopped) -> str:
    return f"stopped server {info.pid}" if info.stopped else "no server was running"


def history_text(days: int) -> Callable[[Changes], str]:
    def text(changes: Changes) -> str:
        live = [_history_cells(r) for r in changes.in_flight]
        done = [_history_cells(r) for r in changes.finished]
        title = f"Finished in the last {days} day(s): what each merge brought in"
        return lines(
            table(live, ["task", "project", "ahead", "change", "description"],
                  title="In flight: each branch against its base"),
            "",
            table(done, ["task", "project", "ended", "rounds", "change", "description"],
                  title=title),
        )  # fmt: skip

    return text


def _history_cells(row: HistoryRow) -> dict[str, Any]:
    t = row.task
    return {"task": t.uuid[:8], "project": t.project, "ahead": row.ahead, "rounds": t.rounds,
            "ended": f"{t.end:%Y-%m-%d %H:%M}" if t.end else "", "change": row.change or "-",
            "description": t.description}  # fmt: skip


def screen_text(seen: Screen) -> str:
    """`ttal attach --screen`: the pane's state, then what it shows."""
    state = "exited" if seen.dead else f"running {seen.command} (pid {seen.pid})"
    return lines(f"{seen.session} pane {seen.pane}, {seen.size}: {state}", *seen.lines)


def demo_line(elapsed: float, text: str) -> str:
    """One line of the demo's progress, as it runs."""
    return f"{elapsed:5.1f}s  {text}"


def demo_text(summary: DemoSummary) -> str:
    cols = ["task", "project", "description", "result", "rounds", "seconds", "kept"]
    rows = [t.as_dict() for t in summary.tasks]
    parts = [
        "",
        table(rows, cols, title=f"Summary ({summary.elapsed} s)"),
        "\nNothing was lost: a refused merge keeps its branch, worktree and commits.",
    ]
    if summary.served_warm:
        parts.append(f"The agents' {summary.served_warm} ttal commands ran on the warm server.")
    if summary.kept is not None:
        box = summary.kept
        parts.append(
            f"\nThe sandbox is kept. Look around:\n"
            f"  export TTAL_CONFIG={box.config} TASKRC={box.taskrc}\n"
            f"  ttal status; ttal attach <session>; task all\n"
            f"  when done: tmux -L {box.socket} kill-server; rm -rf {box.root}"
        )
    return lines(*parts)


# ---- agents and messages -----------------------------------------------------------------


def sent_text(result: Sent) -> str:
    if result.status == "duplicate":
        return f"not sent again: {result.detail}"
    return f"message #{result.id} to {result.to}: {result.status} ({result.detail})"


def inbox_text(inbox: Inbox) -> str:
    """A delivered message the agent acknowledged (`ttal ack`) shows as acked: it was read,
    not only typed in (--json keeps status `delivered` and says `acked` beside it)."""
    rows = [{**m, "body": m["body"].splitlines()[0][:80] if m["body"] else "",
             "status": "acked" if m["acked"] and m["status"] == "delivered" else m["status"]}
            for m in inbox.as_dict()["messages"]]  # fmt: skip
    return table(rows, ["id", "when", "from", "status", "body"], title=f"Inbox of {inbox.agent}")


def started_text(results: list[Started]) -> str:
    """`ttal up`."""
    return lines(*(f"{r.agent}: {r.action}; {r.delivered} queued message(s) delivered"
                   for r in results))  # fmt: skip


def stopped_agents_text(results: list[AgentAction]) -> str:
    """`ttal down`."""
    return lines(*(action_text(r) for r in results))


def forked_text(result: Forked) -> str:
    return f"{result.agent}: forked from {result.source} (session {result.session_id})"


def delivered_text(counts: Mapping[str, int]) -> str:
    """`ttal deliver --once`."""
    return f"delivered {sum(counts.values())} message(s)"


def each_delivered_text(counts: Mapping[str, int]) -> str:
    """A pass of `ttal deliver`'s loop: a line per recipient that got something."""
    return lines(*(f"delivered {n} to {name}" for name, n in counts.items() if n))


def watch_text(rows: Sequence[Mapping[str, Any]]) -> str:
    shown = [{**r, "task": r["task"][:8], "did": "; ".join(r["did"])} for r in rows]
    cols = ["agent", "kind", "task", "state", "health", "did"]
    return table(shown, cols, title=f"ttal watch {time.strftime('%H:%M:%S')}")


def watch_news_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """A pass of `ttal watch`'s loop: only what it did or found wrong; a quiet pass says
    nothing."""
    news = [r for r in rows if r["did"] or r["health"] not in ("", "ok")]
    return watch_text(news) if news else ""


def diary_added_text(result: Written) -> str:
    return f"{result.agent}'s diary: added"


def diary_text(diary: Diary) -> str:
    return lines(*(f"{entry.when}  {entry.text}" for entry in diary.entries))


def action_text(result: AgentAction) -> str:
    """`ttal breathe` (and each agent of `ttal down`): the agent and what happened to it."""
    return f"{result.agent}: {result.action}"


def context_text(briefing: Briefing) -> str:
    """`ttal context`: Claude Code's SessionStart hook adds this to the conversation."""
    data = briefing.as_dict()
    if not data["agent"]:
        return "ttal: no agent identity here (TTAL_AGENT is unset): this is a person's shell."
    out = [f"# ttal: you are {data['agent']}, a ttal {data['role']}"]
    task = data.get("task")
    if task:
        out.append(f"Task {task['uuid'][:8]}: {task.get('description', task.get('error', ''))}")
        facts = [f"{k} {task[k]}" for k in ("project", "stage", "round", "branch") if k in task]
        facts += [f"tags {', '.join(task['tags'])}"] if task.get("tags") else []
        if facts:
            out.append("  " + "; ".join(facts))
        if task.get("expects"):
            out.append(f"  pipeline: {task['expects']}")
    tasks = data.get("tasks") or []
    if tasks:
        out.append(f"Your active tasks ({len(tasks)}; `ttal status` shows all):")
        out += [f"  {t['uuid'][:8]} {t.get('description', t.get('error', ''))}: "
                f"{t.get('expects', '')}" for t in tasks]  # fmt: skip
    queued = data["queued"]
    if queued:
        out.append(f"{len(queued)} message(s) wait for you; they are typed in when you are idle:")
        out += [f"  #{m['id']} from {m['from']}: {m['first_line']}" for m in queued[:SHOWN]]
    if data.get("diary"):
        out.append("Your diary (newest last; `ttal diary append` adds to it):")
        out += [f"  - {entry}" for entry in data["diary"]]
    out.append(f"Next: {data['next']}")
    return lines(*out)


SHOWN = 3  # queued messages previewed by `ttal context`
