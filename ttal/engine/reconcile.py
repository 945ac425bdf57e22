"""ttal's writes survive other writers: write again what Taskwarrior lost, flag what someone
changed on purpose, and store once a task stored twice.

On Taskwarrior 2.6 a person's plain report (`task list`, taskwarrior-tui's refresh) runs the
garbage collection, which rewrites pending.data from the copy it read: a write ttal made in
between is undone (undo.data still shows it), and a task can end up stored twice (a pending
copy beside a completed one). ttal's lock cannot help: the person's `task` does not take it.
So each write is recorded in ttal's store first (Taskwarrior.writes, adapters/store/
writes.py), and the reads that decide (each `ttal go` turn, a review verdict) and `ttal watch`
/ `ttal recover` (sweep) compare the task with the record (core/writes.py). 3.x keeps every
write; there the records are only confirmed.

No `task` call is added where nothing was lost: `read` is the one export `get` made, and a
sweep is one export of the tasks with unsettled writes.
"""

from __future__ import annotations

import time
from typing import Any

from ttal import faults
from ttal.adapters import locks, task_rewrite
from ttal.core.task_view import depends_of
from ttal.core.writes import COMPLETED, Write, apply_changes, changes_for, compare, keep_row
from ttal.engine import journal
from ttal.engine import sweep as sweeps
from ttal.engine.app import App
from ttal.errors import TtalError

# A finished task's writes are settled (no longer swept) this long after its last write: a
# report that read the data before it has long written back by then.
SETTLE_AFTER = 30.0
BATCH = 100  # uuids per `task export` in a sweep


def read(app: App, uuid: str) -> dict[str, Any]:
    """The task (full `uuid`) with ttal's recorded writes on it. Call it holding the task's
    lock: it may write. Stored twice, it is stored once first."""
    # The same one call also brings the task's pending parents, for a change across repos
    # (engine/merge_groups.py): a term more costs far less than a second read of the history.
    found = app.tw.export("(", f"uuid:{uuid}", "or", f"depends.has:{uuid}", ")")
    rows = [r for r in found if r.get("uuid") == uuid]
    app.parents[uuid] = [str(r["uuid"]) for r in found
                         if r.get("uuid") != uuid and r.get("status") == "pending"
                         and uuid in depends_of(r)]  # fmt: skip
    if not rows:
        return app.tw.get(uuid)  # its NotFound
    task = store_once(app, uuid, rows) if len(rows) > 1 else rows[0]
    return settle(app, task)[0]


def settle(
    app: App, task: dict[str, Any], writes: list[Write] | None = None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Compare `task` (one export row) with ttal's writes (`writes`: those already compared
    with it; by default, all of the task's): confirm what it shows, write again what it
    lost, flag what someone else changed. Returns the task as it is now and what was done:
    (reapplied|flagged, text) pairs."""
    uuid = task["uuid"]
    writes = app.state.task_writes(uuid) if writes is None else writes
    if not writes:
        return task, []
    verdict = compare(task, writes)
    app.state.mark_writes([w.id for w in verdict.seen if w.state != "applied"], "applied")
    notes = [("flagged", _flag(app, uuid, w, found)) for w, found in verdict.conflicts
             if w.state != "conflict"]  # fmt: skip
    if verdict.lost:
        task = _write_again(app, task, verdict.lost)
        notes.append(("reapplied", f"wrote again what Taskwarrior lost: {_shown(verdict.lost)}"))
    elif _finished(app, task):  # a flag on a finished task stays in the event log only
        app.state.settle_writes(uuid)
    return task, notes


def _finished(app: App, task: dict[str, Any]) -> bool:
    if task.get("status") not in ("completed", "deleted"):
        return False
    return time.time() - app.state.last_write_at(task["uuid"]) > SETTLE_AFTER


def _write_again(app: App, task: dict[str, Any], lost: tuple[Write, ...]) -> dict[str, Any]:
    uuid, changes = task["uuid"], changes_for(lost)
    done = any((w.field, w.value) == COMPLETED for w in lost)
    app.tw.reapply(uuid, changes, done)
    app.state.event("write-reapplied", uuid, "ttal", _shown(lost))
    task = apply_changes(task, changes)
    return {**task, "status": "completed"} if done else task


def _flag(app: App, uuid: str, write: Write, found: str) -> str:
    """Someone else gave the field another value: theirs stands. Flagged once."""
    app.state.mark_writes([write.id], "conflict", found)
    text = conflict_text(uuid, write.field, write.value, found)
    app.state.event("write-conflict", uuid, "ttal", text)
    return text


def conflict_text(uuid: str, field: str, value: str, found: str) -> str:
    short = uuid[:8]
    return (f"task {short}: {field} is {found!r}, not ttal's {value!r}: someone changed it; "
            f"left as it is (set it back with `task {short} modify {field}:{value}`)")  # fmt: skip


def _shown(writes: tuple[Write, ...]) -> str:
    return " ".join(w.field if w.field.startswith("+") else f"{w.field}:{w.value}"
                    for w in writes)  # fmt: skip


def store_once(app: App, uuid: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A task stored more than once (2.6) is stored once, as the copy to keep. The kept copy
    is journaled first: a crash between purge and import is settled by `ttal recover`.
    Read again first: 3.x (one row per uuid in SQLite) was once seen to export a task twice
    while a report ran; a second read showing one row means nothing is stored twice."""
    again = app.tw.export(uuid)
    if len(again) <= 1:
        return again[0] if again else rows[0]
    rows = again
    keep = keep_row(rows)
    intent_id = journal.begin(app, "task.dedupe", f"dedupe:{uuid}", uuid, row=keep)
    try:
        restored = task_rewrite.store_once(app.tw, uuid, keep)
    except TtalError as err:
        state, note = settle_dedupe(app, uuid, keep)
        journal.finish(app, intent_id, state, f"{note} (after: {err.message})")
        raise
    journal.finish(app, intent_id, "done", f"{len(rows)} copies stored once")
    shown = ", ".join(f"{r.get('status')}@{r.get('modified')}/{r.get('id')}" for r in rows)
    app.state.event("task-deduped", uuid, "ttal", f"{len(rows)} copies ({shown}) stored once")
    _restored(app, restored)
    return keep


def _restored(app: App, uuids: list[str]) -> None:
    for lost in uuids:
        app.state.event("task-restored", lost, "ttal",
                        "a report's gc crossed ttal's purge; imported back whole")  # fmt: skip


def settle_dedupe(app: App, uuid: str, keep: dict[str, Any]) -> tuple[str, str]:
    """After a crash (or a failure) while storing a task once: import the kept copy if no
    copy is left; more than one is left for the next read or sweep."""
    rows = app.tw.export(uuid)
    live = [r for r in rows if r.get("status") != "deleted"]
    if len(live) > 1:
        return "skipped", f"still {len(live)} copies; the next `ttal watch` stores it once"
    if len(live) < len(rows):
        _restored(app, task_rewrite.purge(app.tw, uuid))  # the copies deleted on the way
    if live:
        return "done", "the task is stored once"
    app.tw.import_row(keep)
    return "done", "imported the copy kept in the journal"


def sweep(app: App, evidence: str = "") -> list[dict[str, Any]]:
    """`ttal watch` (each pass) and `ttal recover`: every task with unsettled writes, one
    export for all; a task that lost something (or is stored twice) is re-read and fixed
    under its lock, unless a ttal command holds that lock now (its writes are on their way:
    the next sweep looks again). `evidence`: the command to refuse (engine/sweep.py) before
    anything is decided when Taskwarrior shows no tasks at all; the export is that evidence
    when it returns any row, and a `task count` is asked only when it returns none. Returns
    what was done, as `recover` reports it."""
    uuids = app.state.open_write_tasks()
    rows: dict[str, list[dict[str, Any]]] = {}
    try:
        for start in range(0, len(uuids), BATCH):
            for row in app.tw.export(*uuids[start : start + BATCH]):
                rows.setdefault(row["uuid"], []).append(row)
    except TtalError as err:  # Taskwarrior briefly unavailable: the next pass tries again
        if evidence:
            sweeps.require_evidence(app, evidence)
        return [_item("", "error", f"could not read the tasks ttal wrote: {err.message}")]
    if evidence and not rows:
        sweeps.require_evidence(app, evidence)
    items = []
    for uuid in uuids:
        found = rows.get(uuid, [])
        if not found:  # purged by a person: nothing left to reconcile
            app.state.settle_writes(uuid)
            continue
        writes = app.state.task_writes(uuid)
        verdict = compare(found[0], writes)
        new_conflict = any(w.state != "conflict" for w, _ in verdict.conflicts)
        if len(found) == 1 and not verdict.lost and not new_conflict:
            faults.point("sweep.compared")
            # Only the writes compared: one a ttal command records now (it holds the task,
            # not this pass) is not in this row, and must not be written from here.
            settle(app, found[0], writes)  # confirms and settles; writes nothing
            continue
        items += _fix(app, uuid)
    return items


def standing_conflicts(app: App) -> list[dict[str, Any]]:
    """Every write flagged as changed by someone else, for `ttal recover` and `ttal status`."""
    return [_item(task, "flagged", conflict_text(task, field, value, found))
            for task, field, value, found in app.state.write_conflicts()]  # fmt: skip


def _fix(app: App, uuid: str) -> list[dict[str, Any]]:
    """Re-read the task under its lock (a person may have written since the sweep's read),
    store it once if it is stored twice, then settle it. Not while a ttal command holds the
    task: what looked lost is then mostly a write it recorded and has not made yet (a `ttal
    go` stages its writes until it ends); a re-read would wait for it and read the whole
    history again for nothing. The next sweep looks again."""
    items = []
    try:
        with locks.held_if_free(locks.task_lock(app.lock_dir, uuid)) as free:
            if not free:
                return []
            rows = app.tw.export(uuid)
            if not rows:
                return []
            if len(rows) > 1:
                task = store_once(app, uuid, rows)
                items.append(_item(uuid, "deduped", f"stored once ({len(rows)} copies)"))
            else:
                task = rows[0]
            _, notes = settle(app, task)
    except TtalError as err:
        app.state.event("reconcile-error", uuid, "ttal", err.message)
        return [*items, _item(uuid, "error", err.message)]
    return items + [_item(uuid, state, text) for state, text in notes]


def _item(uuid: str, state: str, note: str) -> dict[str, Any]:
    return {"id": 0, "action": "task.write", "task": uuid, "state": state, "note": note}
