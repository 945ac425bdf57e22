"""Repairs that rewrite Taskwarrior 2.6's data files, beside a person's reports, losing none
of their tasks.

`task purge` reads a data file and writes it back whole. A person's report that garbage-
collects at that moment moves finished tasks out of pending.data (rewritten) into
completed.data (appended to): an append that lands between purge's read and its write is
lost, and the task is in neither file. Seen once in tests/test_person_reports.py: a merged
task vanished while ttal stored a duplicated one once. So a purge here first reads the
finished tasks (only they move) and afterwards imports back, whole, any that are gone
(an import only appends). A task the person purges in that same instant comes back; purging
it again removes it. The check costs two reads, on a repair that is itself rare.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ttal import faults

if TYPE_CHECKING:
    from ttal.adapters.taskwarrior import Taskwarrior

FINISHED = ("(", "status:completed", "or", "status:deleted", ")")


def store_once(tw: Taskwarrior, uuid: str, row: dict[str, Any]) -> list[str]:
    """A task stored more than once (2.6: a report's gc crossed a write) is stored once, as
    `row`: every copy deleted and purged, then `row` imported, under one lock. (A re-done
    completion would add a copy instead.) The caller journals `row` first. Returns the
    uuids of other tasks the purge dropped and that were imported back."""
    tw.ensure_ready()

    def rewrite() -> None:
        tw.raw(uuid, "delete")
        tw.raw(uuid, "purge")
        faults.point("dedupe.purged")
        tw.raw("import", "-", stdin=json.dumps(row) + "\n")

    with tw.locked():
        return _keeping_finished(tw, uuid, rewrite)


def purge(tw: Taskwarrior, uuid: str) -> list[str]:
    """Remove the deleted copies of a task from the data files (2.6); as `store_once`."""
    tw.ensure_ready()
    with tw.locked():
        return _keeping_finished(tw, uuid, lambda: tw.raw(uuid, "purge"))


def _keeping_finished(tw: Taskwarrior, uuid: str, rewrite: Callable[[], None]) -> list[str]:
    before = {r["uuid"]: r for r in tw.export(*FINISHED) if r["uuid"] != uuid}
    rewrite()
    after = {r["uuid"] for r in tw.export(*FINISHED)}
    gone = [u for u in before if u not in after]
    if gone:  # not finished any more (someone's undo) is not gone: ask by uuid
        gone = sorted(set(gone) - {r["uuid"] for r in tw.export(*gone)})
    for lost in gone:
        tw.raw("import", "-", stdin=json.dumps(before[lost]) + "\n")
    return gone
