"""`ttal context`: who this agent is, its task and what waits for it, in a few lines.

Claude Code's SessionStart hook runs it (adapters/runtimes/claude_config.py) and adds what it
prints to the
conversation, on start and again after a resume, /clear or compaction, so an agent never
loses track of who it is. Kept small: it is read on every session start.
"""

from __future__ import annotations

from typing import Any

from ttal.engine.app import App
from ttal.errors import TtalError

NEXT = {
    "worker": 'when done: commit, then `ttal go`; blocked: `ttal alert "<what you need>"`',
    "reviewer": 'verdict: `ttal review approve --note "<why>"` or `ttal review changes "<what>"`',
}
MANAGER_NEXT = 'messages arrive as "[ttal #N from NAME]"; reply: `ttal send --to NAME "..."`'
SHOWN = 3  # queued messages previewed
SHOWN_TASKS = 10  # a manager's active tasks listed


def context(app: App) -> dict[str, Any]:
    caller = app.caller
    if caller.is_person:
        return {"agent": "", "role": "human"}
    data: dict[str, Any] = {"agent": caller.name, "role": caller.role}
    if caller.task:
        data["task"] = _task(app, caller.task)
    else:  # a manager: what it started, and role stages assigned to it
        data["tasks"] = _active(app, caller.name)
    queued = app.state.messages(caller.name, undelivered=True)
    data["queued"] = [{"id": m.id, "from": m.sender, "first_line": m.body.split("\n")[0][:120]}
                      for m in queued]  # fmt: skip
    from ttal.engine.agents import diary_tail

    data["diary"] = diary_tail(app, caller.name)
    data["next"] = NEXT.get(caller.role, MANAGER_NEXT)
    return data


def _task(app: App, uuid: str) -> dict[str, Any]:
    try:
        task = app.tw.get(uuid)
    except TtalError as err:
        return {"uuid": uuid, "error": str(err).splitlines()[0]}
    keys = ("description", "project", "ttal_stage", "ttal_round", "ttal_branch", "ttal_worktree")
    found = {k.removeprefix("ttal_"): task[k] for k in keys if task.get(k)}
    return {"uuid": uuid, "status": task.get("status", ""), "tags": task.get("tags", []),
            **found, "expects": _expects(app, task)}  # fmt: skip


def _active(app: App, name: str) -> list[dict[str, Any]]:
    """Pending tasks this agent spawned or owns a stage of, with what the pipeline expects."""
    try:
        found = app.tw.export("status:pending", "(", f"ttal_spawner.is:{name}", "or",
                              f"ttal_owner.is:{name}", ")")  # fmt: skip
    except TtalError as err:
        return [{"uuid": "", "error": str(err).splitlines()[0]}]
    return [
        {
            "uuid": t["uuid"],
            "description": t.get("description", ""),
            "stage": t.get("ttal_stage", ""),
            "owner": t.get("ttal_owner") == name,
            "expects": _expects(app, t),
        }
        for t in sorted(found, key=lambda t: str(t.get("entry", "")))
        if name in (t.get("ttal_spawner"), t.get("ttal_owner"))
    ][:SHOWN_TASKS]


def _expects(app: App, task: dict[str, Any]) -> str:
    """The pipeline's next step for this caller, in its own words (ttal.core.pipeline)."""
    from ttal.core.pipeline import next_step
    from ttal.engine.lookup import pipeline_for, task_view

    try:
        return next_step(task_view(task), pipeline_for(app, task), app.caller).reason
    except TtalError as err:
        return str(err).splitlines()[0]


def render(data: dict[str, Any]) -> str:
    if not data["agent"]:
        return "ttal: no agent identity here (TTAL_AGENT is unset): this is a person's shell."
    lines = [f"# ttal: you are {data['agent']}, a ttal {data['role']}"]
    task = data.get("task")
    if task:
        lines.append(f"Task {task['uuid'][:8]}: {task.get('description', task.get('error', ''))}")
        facts = [f"{k} {task[k]}" for k in ("project", "stage", "round", "branch") if k in task]
        facts += [f"tags {', '.join(task['tags'])}"] if task.get("tags") else []
        if facts:
            lines.append("  " + "; ".join(facts))
        if task.get("expects"):
            lines.append(f"  pipeline: {task['expects']}")
    tasks = data.get("tasks") or []
    if tasks:
        lines.append(f"Your active tasks ({len(tasks)}; `ttal status` shows all):")
        lines += [f"  {t['uuid'][:8]} {t.get('description', t.get('error', ''))}: "
                  f"{t.get('expects', '')}" for t in tasks]  # fmt: skip
    queued = data["queued"]
    if queued:
        lines.append(f"{len(queued)} message(s) wait for you; they are typed in when you are idle:")
        lines += [f"  #{m['id']} from {m['from']}: {m['first_line']}" for m in queued[:SHOWN]]
    if data.get("diary"):
        lines.append("Your diary (newest last; `ttal diary append` adds to it):")
        lines += [f"  - {entry}" for entry in data["diary"]]
    lines.append(f"Next: {data['next']}")
    return "\n".join(lines)
