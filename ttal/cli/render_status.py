"""`ttal status` and `ttal agents` for people: a dashboard that fits the terminal.

`dashboard(report, width, height)` words a StatusReport in at most `height` lines of at
most `width` columns (`None`: no limit, as when the output goes to a file or a pipe): the
headline, counts by stage, queues, what waits for a person, then the agents and the tasks,
each table cut with "… N more" when the screen is full. Text from outside (descriptions,
notes, names) is made inert by the cell helper before it is measured.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ttal.cli.render import _cell
from ttal.core.durations import ago

if TYPE_CHECKING:
    from ttal.commands.agents import AgentRow
    from ttal.commands.status import StatusReport, TaskRow

AGENT_COLS = ("agent", "role", "state", "for", "task", "unread")
# Column: (heading, widest it may be); the last column takes what is left.
TASK_COLS = (("id", 8), ("stage", 34), ("age", 5), ("active", 6), ("health", 8),
             ("cost", 7), ("worker", 21), ("description", 0))  # fmt: skip
WORKER_FROM = 110  # narrower, the sessions column goes: the agents table names them
EMPTY = {"agent": "agents: none configured, no sessions",
         "id": "tasks: none of ttal's pending or finished today"}  # fmt: skip
MIN_TASK_ROWS = 3  # rows the tasks table keeps when agents would take the whole screen


def agents_text(rows: list[AgentRow]) -> str:
    return "\n".join(_table([_agent_cells(r) for r in rows], AGENT_COLS, None))


def status_text(report: StatusReport) -> str:
    return dashboard(report, None, None)


def screen_size(show_all: bool = False) -> tuple[int | None, int | None]:
    """Where the text goes to a terminal: its width, and its height unless `show_all`;
    (None, None) for a file or a pipe, which get every row at full length."""
    import os

    try:  # the terminal's own size: a COLUMNS exported long ago may be stale
        cols, lines = os.get_terminal_size(1)
    except OSError:  # not a terminal
        return None, None
    return cols, None if show_all else lines - 1  # the shell's prompt keeps its line


def dashboard(report: StatusReport, width: int | None, height: int | None) -> str:
    head = [_headline(report), _counts(report), *_queues(report), *_flagged(report, height)]
    agents = [_agent_cells(a) for a in report.agents]
    tasks = [_task_cells(t) for t in report.tasks]
    priced = any(t.cost for t in report.tasks)
    narrow = width is not None and width < WORKER_FROM
    cols = [c for c in TASK_COLS if (c[0] != "cost" or priced) and (c[0] != "worker" or not narrow)]
    if height is None:
        agent_lines = _table(agents, AGENT_COLS, None)
        task_lines = _table(tasks, [c for c, _ in cols], None, width, dict(cols))
    else:
        room = max(height - len(head) - 2, 4)  # two blank lines between the sections
        want_agents = len(agents) + 1
        agent_room = min(want_agents, max(room - min(len(tasks) + 1, MIN_TASK_ROWS + 1), 2))
        agent_lines = _table(agents, AGENT_COLS, agent_room)
        task_lines = _table(tasks, [c for c, _ in cols], room - len(agent_lines), width,
                            dict(cols))  # fmt: skip
    out = [*head, "", *agent_lines, "", *task_lines]
    out = out if height is None else out[:height]
    return "\n".join(_fit(line, width) for line in out)


def _headline(report: StatusReport) -> str:
    workers = sum(1 for s in report.sessions if s.kind == "worker")
    leads = sum(1 for s in report.sessions if s.kind == "reviewer")
    agents = len(report.agents) - workers - leads
    when = time.strftime("%H:%M:%S", time.localtime(report.at or time.time()))
    return (f"ttal status {when}: {agents} agent(s), {workers} worker(s), {leads} review "
            f"lead(s); tmux -L {report.socket}")  # fmt: skip


def _counts(report: StatusReport) -> str:
    if not report.counts:
        return "stages: no tasks of ttal's"
    return "stages: " + ", ".join(f"{stage} {n}" for stage, n in report.counts.items())


def _queues(report: StatusReport) -> list[str]:
    out = []
    if report.queue:
        first = report.queue[0]
        out.append(f"spawn queue: {len(report.queue)} waiting (`ttal watch` starts them); "
                   f"next {first.task[:8]} ({first.project}): {first.reason}")  # fmt: skip
    if report.roles:
        by_role: dict[str, int] = {}
        for row in report.roles:
            by_role[row.role] = by_role.get(row.role, 0) + 1
        out.append("role queues: " + ", ".join(f"{r} {n}" for r, n in by_role.items()))
    if report.merge_queue:  # running checks (with their live line), waiting, sent back
        out.append("Merge queue:")
        out += [f"  {e['project']}  {e['task']}  {e['state']}  {e['detail']}"
                for e in report.merge_queue]  # fmt: skip
    return out


def _flagged(report: StatusReport, height: int | None) -> list[str]:
    notes = [f"flagged #{f.id} {f.action} {f.task[:8]} ({f.state}): {f.note}"
             for f in report.flagged]  # fmt: skip
    if report.conflicts:  # each is also said on stderr (or by `ttal recover`)
        notes.append(f"{len(report.conflicts)} fact(s) ttal wrote were changed by someone else "
                     "(`ttal recover` lists them)")  # fmt: skip
    shown = len(notes) if height is None or len(notes) <= 3 else 2
    more = [f"… {len(notes) - shown} more (`ttal journal`, `ttal recover`)"]
    return notes[:shown] + (more if shown < len(notes) else [])


def _agent_cells(row: AgentRow) -> dict[str, Any]:
    return row.as_dict()


def _task_cells(row: TaskRow) -> dict[str, Any]:
    finished = row.id == "-"
    sessions = [s for s in (row.worker, row.reviewer) if s and not finished]
    return {
        "id": str(row.id) if row.id != "-" else row.uuid[:8],
        "stage": row.stage,
        "age": ago(row.age),
        "active": ago(row.active) if row.active is not None else "",
        "health": (row.health.split(":", 1)[0] if row.health else "") or "-",
        "cost": row.cost or "",
        "worker": " ".join(sessions) or row.owner,
        "description": row.description,
    }


def _table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], room: int | None,
    width: int | None = None, widest: Mapping[str, int] | None = None,
) -> list[str]:  # fmt: skip
    """Heading and rows, at most `room` lines: the last says how many more there are."""
    if not rows:
        return [EMPTY.get(columns[0], "(none)")]
    shown = list(rows)
    if room is not None and len(rows) + 1 > room:
        shown = list(rows[: max(room - 2, 0)])
    cells = [[_cell(row.get(c, "")) for c in columns] for row in shown]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c)
              for i, c in enumerate(columns)]  # fmt: skip
    if width is not None and widest:
        widths = _squeeze(columns, widths, width, widest)
    lines = [_join([c.upper() for c in columns], widths)]
    lines += [_join(r, widths) for r in cells]
    if len(shown) < len(rows):
        lines.append(f"… {len(rows) - len(shown)} more")
    return lines


def _squeeze(
    columns: Sequence[str], widths: list[int], width: int, widest: Mapping[str, int]
) -> list[int]:
    """Cap each column at its widest, then give the last column what is left."""
    capped = [min(w, widest.get(c) or w) for c, w in zip(columns, widths, strict=True)]
    used = sum(capped[:-1]) + 2 * (len(capped) - 1)
    capped[-1] = max(width - used, 8)
    return capped


def _join(values: Sequence[str], widths: Sequence[int]) -> str:
    cells = [_clip(v, w).ljust(w) for v, w in zip(values, widths, strict=True)]
    return "  ".join(cells).rstrip()


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _fit(line: str, width: int | None) -> str:
    return line if width is None else _clip(line, width)
