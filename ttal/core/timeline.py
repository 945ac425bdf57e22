"""`ttal log TASK`: one timeline of everything that happened to a task, from every record
that has it, in time order. Pure: ttal.commands.task_log gathers the records.

Sources, and what each contributes:
- `task`: Taskwarrior itself: created (entry), every annotation (a person's too), completed
  or deleted (end). Taskwarrior keeps whole seconds.
- `tag`: the tags ttal wrote (its record of its own Taskwarrior writes, to the microsecond).
  The `tagged` event that goes with a tag is folded into it (its actor is kept).
- `event`: ttal's event log, every kind as it is (spawned, review-round, approved, merged,
  watch-restarted, and kinds added later), so a new kind shows up without a change here.
- `journal`: the action journal's intents (worktree.add, session.start, merge...) and how
  each ended.
- `message`: messages and alerts about the task, with sender and recipient.

Taskwarrior keeps whole seconds, ttal's records exact times: within one second,
Taskwarrior's entries come first (an annotation ttal wrote with an event), but its end
comes last (ttal's last write to a finished task).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ttal.core.stage_times import Fact, tw_time

SOURCES = ("task", "tag", "event", "journal", "message")


@dataclass(frozen=True)
class Entry:
    ts: float
    source: str  # one of SOURCES
    kind: str
    actor: str  # who did it, where the record says ("" where it does not)
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JournalLine:
    """One intent of the action journal."""

    ts: float
    action: str
    state: str  # done, skipped, unknown, flagged, resolved, pending
    key: str
    note: str = ""


@dataclass(frozen=True)
class MessageLine:
    ts: float
    sender: str
    recipient: str
    body: str
    delivered: bool = True


def task_entries(task: Mapping[str, Any]) -> list[Entry]:
    """What Taskwarrior itself holds: entry, annotations, end."""
    found: list[Entry] = []
    created = tw_time(task.get("entry"))
    if created is not None:
        found.append(Entry(created, "task", "created", "", str(task.get("description", ""))))
    for note in task.get("annotations") or []:
        ts = tw_time(note.get("entry"))
        if ts is not None:
            found.append(Entry(ts, "task", "annotation", "", str(note.get("description", ""))))
    ended = tw_time(task.get("end"))
    status = str(task.get("status", ""))
    if ended is not None and status in ("completed", "deleted"):
        found.append(Entry(ended, "task", status, "", ""))
    return found


def tag_entries(writes: Sequence[tuple[str, float]], facts: Sequence[Fact]) -> list[Entry]:
    """One entry per tag ttal wrote (the first write: tags are monotonic), with the actor of
    the `tagged` event that goes with it."""
    actors = {f.detail: f.actor for f in facts if f.kind == "tagged"}
    seen: set[str] = set()
    found = []
    for field, ts in writes:
        if field.startswith("+") and field not in seen:
            seen.add(field)
            found.append(Entry(ts, "tag", "tag", actors.get(field[1:], ""), field))
    return found


def event_entries(facts: Sequence[Fact], tagged: set[str]) -> list[Entry]:
    """Every event as it is, but the `tagged` ones whose tag has its own entry."""
    return [Entry(f.ts, "event", f.kind, f.actor, f.detail) for f in facts
            if not (f.kind == "tagged" and f.detail in tagged)]  # fmt: skip


def journal_entries(lines: Sequence[JournalLine]) -> list[Entry]:
    return [Entry(i.ts, "journal", i.action, "", _intent_text(i)) for i in lines]


def _intent_text(line: JournalLine) -> str:
    text = f"{line.state}: {line.key}"
    return f"{text} ({line.note})" if line.note else text


def message_entries(lines: Sequence[MessageLine]) -> list[Entry]:
    found = []
    for m in lines:
        first = m.body.strip().splitlines()[0] if m.body.strip() else ""
        queued = "" if m.delivered else " [not delivered yet]"
        found.append(Entry(m.ts, "message", "message", m.sender,
                           f"to {m.recipient}: {first}{queued}"))  # fmt: skip
    return found


def timeline(
    task: Mapping[str, Any],
    facts: Sequence[Fact],
    writes: Sequence[tuple[str, float]],
    journal: Sequence[JournalLine] = (),
    messages: Sequence[MessageLine] = (),
) -> list[Entry]:
    """Every entry of every source, oldest first; ties keep SOURCES' order, then each
    source's own order (its records are in the order they were written)."""
    tags = tag_entries(writes, facts)
    tagged = {e.text[1:] for e in tags}
    parts = [task_entries(task), tags, event_entries(facts, tagged), journal_entries(journal),
             message_entries(messages)]  # fmt: skip
    ranked = [(_sort_time(e), rank, n, e) for rank, part in enumerate(parts)
              for n, e in enumerate(part)]  # fmt: skip
    return [e for *_, e in sorted(ranked, key=lambda r: r[:3])]


def _sort_time(entry: Entry) -> float:
    """Where an entry sorts. Taskwarrior's end is its last write (ttal marks a task done
    after the merge, the cleanup and the message): at the end of its whole second, after
    ttal's records in it. Its other entries sort at the start of theirs."""
    if entry.source == "task" and entry.kind in ("completed", "deleted"):
        return entry.ts + 0.999
    return entry.ts
