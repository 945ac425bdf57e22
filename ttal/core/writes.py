"""Which of ttal's recorded Taskwarrior writes a task still shows (engine/reconcile.py acts).

Taskwarrior 2.6's garbage collection, run by any plain report (`task list`), rewrites
pending.data from the copy it read: a write ttal made meanwhile is undone. ttal records each
write in its store first (adapters/store/writes.py), so a later read can tell what was lost.
Tags are monotonic and facts idempotent, so a lost write is simply written again; a fact that
now holds a value ttal never wrote was changed on purpose by someone else: it is flagged,
never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COMPLETED = ("status", "completed")  # the write `task done` makes


@dataclass(frozen=True)
class Write:
    """ttal's latest write of one field of a task (a tag is the field `+tag`)."""

    id: int
    field: str
    value: str
    state: str  # pending (not yet seen), applied (seen), conflict
    earlier: frozenset[str] = frozenset()  # values ttal wrote there before; "" is absent


@dataclass(frozen=True)
class Verdict:
    seen: tuple[Write, ...] = ()  # the task shows them
    lost: tuple[Write, ...] = ()  # the task shows nothing or an earlier value: write again
    conflicts: tuple[tuple[Write, str], ...] = ()  # someone else's value: flag it


def fields_of(changes: Iterable[str]) -> list[tuple[str, str]]:
    """The (field, value) pairs of one-shot `task modify` arguments that ttal records:
    added tags and `name:value` attributes. Removals are not recorded: ttal makes none."""
    found = []
    for change in changes:
        if change.startswith("+"):
            found.append((change, ""))
        elif ":" in change and not change.startswith("-"):
            name, _, value = change.partition(":")
            found.append((name, value))
    return found


def shown(task: Mapping[str, Any], field: str) -> str:
    """The value of `field` in one `task export` row, as ttal writes it ("" for absent)."""
    if field.startswith("+"):
        return field if field[1:] in (task.get("tags") or []) else ""
    value = task.get(field)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a numeric UDA, written as "2"
    return str(value)


def _holds(task: Mapping[str, Any], write: Write, now: str) -> bool:
    if write.field.startswith("+"):
        return now == write.field
    if write.field == "start":  # written as "now", stored as the time; `task done` clears it
        return bool(now) or task.get("status") in ("completed", "deleted")
    return now == write.value


def compare(task: Mapping[str, Any], writes: Sequence[Write]) -> Verdict:
    seen, lost, conflicts = [], [], []
    for write in writes:
        now = shown(task, write.field)
        if _holds(task, write, now):
            seen.append(write)
        elif write.field == "status" and now != "pending":
            conflicts.append((write, now))  # deleted or waiting: a person's decision
        elif not now or now in write.earlier or write.field in ("status", "start"):
            lost.append(write)
        else:
            conflicts.append((write, now))
    return Verdict(tuple(seen), tuple(lost), tuple(conflicts))


def apply_changes(task: dict[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """The task as a `task modify` with these one-shot arguments would leave it."""
    after = dict(task)
    tags = set(after.get("tags") or [])
    for change in changes:
        if change.startswith("+"):
            tags.add(change[1:])
        elif change.startswith("-"):
            tags.discard(change[1:])
        elif ":" in change:
            name, _, value = change.partition(":")
            if value:
                after[name] = value
            else:
                after.pop(name, None)
    after["tags"] = sorted(tags)
    return after


def merge_changes(staged: Sequence[str], more: Iterable[str]) -> list[str]:
    """One `task modify`'s arguments for `staged` followed by `more`: an attribute's later
    value replaces its earlier one, a tag is added once."""
    merged = list(staged)
    for change in more:
        if ":" in change and not change.startswith(("+", "-")):
            name = change.partition(":")[0] + ":"
            merged = [c for c in merged if not c.startswith(name)]
        elif change in merged:
            continue
        merged.append(change)
    return merged


def changes_for(writes: Iterable[Write]) -> list[str]:
    """`task modify` arguments that write `writes` again (the completion is not one)."""
    return [w.field if w.field.startswith("+") else f"{w.field}:{w.value}"
            for w in writes if (w.field, w.value) != COMPLETED]  # fmt: skip


def keep_row(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Of one task stored more than once (2.6: a report's gc and a write crossed), the row to
    keep: a completed one if any (the gc had moved it), the most recently modified; with
    every tag any copy has (tags are monotonic). Export-only keys are dropped."""
    best = max(rows, key=lambda r: (r.get("status") == "completed", str(r.get("modified", ""))))
    keep = {k: v for k, v in best.items() if k not in ("id", "urgency")}
    tags = sorted({t for r in rows for t in r.get("tags") or []})
    if tags:
        keep["tags"] = tags
    return keep


@dataclass
class Batch:
    """What one `ttal go` (or verdict) has decided to write to its task and not yet written:
    each change is checked and recorded (tw_writes) when it is made, and written with the
    others in one `task` call. `row` is the task as read under its lock, with these changes
    on it: the next turn works from it instead of reading the task again. A crash before
    the write leaves the changes recorded and not shown: the next read writes them again
    (engine/reconcile.py), as it does what a person's report undid."""

    row: dict[str, Any]
    changes: list[str] = field(default_factory=list)  # `task modify` arguments
    ids: list[int] = field(default_factory=list)  # their records in tw_writes
    notes: list[str] = field(default_factory=list)  # annotations
    done: bool = False  # `task done`

    def calls(self, tags: Iterable[str] = ()) -> list[tuple[str, ...]]:
        """The `task <uuid> ...` arguments that write it: one call (`modify`, `annotate`
        with modifications, or `done` with both), plus one `annotate` per further note.
        `tags`: every tag ttal recorded writing to the task: added again (a no-op where
        present), so a write never stays lost past this one, and no read is needed to know."""
        if not (self.changes or self.notes or self.done):
            return []
        changes = [*self.changes, *(t for t in tags if t not in self.changes)]
        first, rest = self.notes[:1], self.notes[1:]
        note = ("--", first[0]) if first else ()
        if self.done:
            main = ("done", *changes, *note)
        elif first:
            main = ("annotate", *changes, *note)
        else:
            main = ("modify", *changes)
        return [main, *(("annotate", "--", text) for text in rest)]

    def clear(self) -> None:
        self.changes, self.ids, self.notes, self.done = [], [], [], False
