"""Taskwarrior adapter: reads with `task export` JSON, writes with one-shot `task` calls.

Every write holds one ttal-wide lock: Taskwarrior 2.6 releases its own file lock between
read and write, so concurrent modifies of one task silently drop updates (libraries.md §1.7).
3.x (one SQLite database, no lock file) keeps them all (80 of 80 raw modifies, where 2.6 kept
26-36), but the lock is still needed for ttal's own check-then-write rules. Reads take no
lock; note that 3.x writes its database (WAL mode) even to read.

Every call reads the whole store, history included (docs/speed.md measures it), so a command
that holds a task under its lock `carry`s the row it read: its writes are checked against
that row and go out together in one call.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ttal.adapters import locks, taskrc
from ttal.adapters.proc import Result, run
from ttal.core import tagrules
from ttal.core.writes import COMPLETED, Batch, Write, apply_changes, fields_of, merge_changes
from ttal.errors import ExternalError, Forbidden, NotFound, TtalError

REF_RE = re.compile(
    r"^(\d{1,9}|[0-9a-f]{8}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)

# A data dir this user cannot write, as 2.6 says it ("Insufficient permissions for
# '.../pending.data'.") and as 3.x does ("Setting journal_mode=WAL: attempt to write a
# readonly database: Error code 1544: ...").
_READ_ONLY = re.compile(r"^Insufficient permissions for '|attempt to write a readonly database")

# The UDAs ttal records on a task. Declared by `ttal doctor --fix`.
UDAS: dict[str, tuple[str, str]] = {
    "ttal_branch": ("string", "ttal branch"),
    "ttal_worktree": ("string", "ttal worktree"),
    "ttal_session": ("string", "ttal worker session"),
    "ttal_reviewer": ("string", "ttal review session"),
    "ttal_spawner": ("string", "ttal spawner"),
    "ttal_agent": ("string", "ttal worker agent"),
    "ttal_runtime": ("string", "ttal runtime"),
    "ttal_stage": ("string", "ttal briefed stage"),
    "ttal_review": ("string", "ttal review state"),
    "ttal_round": ("numeric", "ttal review round"),
    "ttal_reviewed": ("string", "ttal approved commit"),
    "ttal_approved": ("string", "ttal approved stages"),
    "ttal_owner": ("string", "ttal owner"),
    "ttal_owner_stage": ("string", "ttal owner stage"),
    "ttal_session_id": ("string", "ttal runtime session"),
    "ttal_health": ("string", "ttal health"),
    "ttal_pr": ("string", "ttal pull request"),
}


class HookRejected(Forbidden):
    """Taskwarrior's on-modify hook refused the change."""


class WriteLog(Protocol):
    """Where ttal records its writes before making them (adapters/store/writes.py)."""

    def record_writes(self, task: str, fields: Sequence[tuple[str, str]]) -> list[int]: ...

    def mark_writes(self, ids: Sequence[int], state: str, note: str = "") -> None: ...

    def task_writes(self, task: str) -> list[Write]: ...


@dataclass
class Taskwarrior:
    """With `rules`, ttal checks its own writes in-process with the hook's own rules
    (ttal.core.tagrules) and runs them with rc.hooks=off: the hook's Python start costs ~45 ms per
    write, three times a spawn. Without `rules`, the installed hook checks them."""

    taskrc: Path | None
    data: Path | None
    lock_dir: Path
    rules: dict[str, Any] | None = None
    # With `writes`, each modify and done is recorded there first (after the rules passed),
    # so engine/reconcile.py can write again what a person's report undid.
    writes: Callable[[], WriteLog] | None = None
    # With `state_dir`, every write first checks (adapters/taskrc.py, cached there) that the
    # UDAs are declared and the hooks installed, and refuses with exit 10 if not.
    state_dir: Path | None = None
    # Tasks this process holds (carry): uuid -> what it has decided to write there.
    _batches: dict[str, Batch] = field(default_factory=dict, repr=False)

    def ensure_ready(self) -> None:
        """Refuse (ConfigError, exit 10) before a write to a store that is not set up."""
        if self.state_dir is None:
            return
        rc, data = taskrc.find_taskrc(self.taskrc), taskrc.find_data(self.data)
        taskrc.ready(rc, data, self.state_dir, UDAS, self._show)

    def _show(self) -> str:
        result = self.call("_show")
        if not result.ok:
            raise self._failed("task _show", result)
        return result.out

    def _argv(self, *args: str) -> list[str]:
        argv = ["task", "rc.confirmation=no", "rc.verbose=nothing", "rc.json.array=on"]
        argv += ["rc.bulk=0", "rc.recurrence.confirmation=no", "rc.dependency.confirmation=no"]
        if self.data:
            argv.append(f"rc.data.location={self.data}")
        return argv + list(args)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.taskrc:
            env["TASKRC"] = str(self.taskrc)
        return env

    def call(self, *args: str, stdin: str | None = None) -> Result:
        """An unlocked call: reads only. rc.gc=0 because a read that garbage-collects moves
        completed tasks between files without our lock; concurrent readers then wrote one
        completed task into completed.data six times (seen in the demo). 3.x's gc renumbers
        the working set (under a person about to type `task 5 done`) and costs ~150 ms per
        read at 25,000 tasks (docs/speed.md)."""
        return run(self._argv("rc.gc=0", *args), env=self._env(), stdin=stdin)

    # ---- reads -------------------------------------------------------------
    def export(self, *filters: str) -> list[dict[str, Any]]:
        result = self.call(*filters, "export")
        if not result.ok:
            raise self._failed("task export", result)
        try:
            # strict=False: Taskwarrior writes control characters in a description raw.
            data = json.loads(result.out or "[]", strict=False)
        except json.JSONDecodeError as err:
            raise ExternalError(f"task export gave invalid JSON: {err}") from None
        return list(data)

    def get(self, ref: str) -> dict[str, Any]:
        ref = ref.strip().lower()
        if not REF_RE.match(ref):
            raise NotFound(
                f"{ref!r} is not a task reference",
                hint="use a task id (12), a short uuid (1a2b3c4d) or a full uuid",
            )
        found = [t for t in self.export(ref) if t.get("status") != "deleted" or len(ref) > 8]
        found = list({t["uuid"]: t for t in reversed(found)}.values())  # one row per uuid
        if not found:
            raise NotFound(f"no task {ref}", hint="`task list` shows your tasks")
        if len(found) > 1:
            raise NotFound(f"{ref} matches {len(found)} tasks", hint="use the full uuid")
        return found[0]

    # ---- writes (serialised) -----------------------------------------------
    def _write(
        self, *args: str, check: str = "", stdin: str | None = None,
        record: Sequence[tuple[str, str]] = (),
    ) -> Result:  # fmt: skip
        """One serialised write. check="modify" or "add" applies the tag rules first;
        `record`: the (field, value) pairs it writes to task args[0], recorded first."""
        self.ensure_ready()
        with locks.held(locks.taskwarrior_lock(self.lock_dir)):
            if self.rules is not None:
                args = self._check_rules(check, args)
            log = self.writes() if self.writes and record else None
            ids = log.record_writes(args[0], record) if log else []
            return self._run_write(args, stdin, ids)

    def _run_write(self, args: Sequence[str], stdin: str | None, ids: Sequence[int]) -> Result:
        """Run one write (holding the lock) whose records are `ids`: marked failed if it is."""
        if self.rules is not None:
            args = ("rc.hooks=off", *args)
        result = run(self._argv(*args), env=self._env(), stdin=stdin)
        if not result.ok and ids and self.writes:
            self.writes().mark_writes(ids, "failed", _first_line(result))
        if not result.ok:
            text = _first_line(result)
            if text.startswith("ttal:"):
                raise HookRejected(text.removeprefix("ttal:").strip())
            raise self._failed(f"task {' '.join(args[:3])}", result)
        return result

    def _failed(self, what: str, result: Result) -> ExternalError:
        """Taskwarrior's own words, except where they differ by version for one failure:
        then ttal's, so a person (and a test) sees one message on 2.6 and 3.x."""
        text = _first_line(result)
        if _READ_ONLY.search(text):
            where = self.data or os.environ.get("TASKDATA") or "its data.location"
            return ExternalError(
                f"{what} failed: Taskwarrior's data ({where}) is read-only for this user",
                hint="Taskwarrior writes its data dir even to read (2.6 locks its files, 3.x "
                "opens its database for writing): give this user write access to it",
            )
        return ExternalError(f"{what} failed: {text}")

    def _check_rules(
        self, check: str, args: tuple[str, ...], before: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        """The tag rules on this write; returns its arguments, with the pipeline tags ttal
        wrote before and Taskwarrior lost (a person's report, 2.6) added back: the rules
        judge the task as ttal wrote it, and this write restores them. `before`: the task
        as the caller holds it (carry); else it is read first."""
        assert self.rules is not None
        if check == "add":
            reason = tagrules.check_add(apply_changes({}, args[2:]), self.rules)
        elif check == "modify":
            if not _rule_relevant(args[2:]):
                return args  # only UDAs no rule is about: no need to read the task first
            before = self.get(args[0]) if before is None else before
            if lost := self._lost_tags(before):
                before, args = apply_changes(before, lost), (*args, *lost)
            after = apply_changes(before, args[2:])
            reason = tagrules.check_modify(before, after, self.rules, os.environ)
        else:
            return args
        if reason:
            raise HookRejected(reason)
        return args

    def _lost_tags(self, task: dict[str, Any]) -> list[str]:
        """Tags ttal recorded writing to `task` that it does not show."""
        if not self.writes:
            return []
        have = tags_of(task)
        return [w.field for w in self.writes().task_writes(task["uuid"])
                if w.field.startswith("+") and w.field[1:] not in have]  # fmt: skip

    def add(self, description: str, *extra: str) -> str:
        result = self._write(
            "rc.verbose=new-uuid", "add", f"description:{description}", *extra, check="add"
        )
        match = re.search(r"([0-9a-f-]{36})", result.out)
        if not match:
            raise ExternalError(f"task add printed no uuid: {result.out.strip()!r}")
        return match.group(1)

    def modify(self, uuid: str, *changes: str) -> None:
        if not changes:
            return
        if batch := self._batches.get(uuid):
            self._stage(batch, changes)
        else:
            self._write(uuid, "modify", *changes, check="modify", record=fields_of(changes))

    def set(self, uuid: str, **values: str | int) -> None:
        self.modify(uuid, *(f"{k}:{v}" for k, v in values.items()))

    def add_tags(self, uuid: str, tags: Sequence[str]) -> None:
        self.modify(uuid, *(f"+{t}" for t in tags))

    def annotate(self, uuid: str, text: str) -> None:
        text = text.replace("\n", " ")[:2000]
        if batch := self._batches.get(uuid):
            batch.notes.append(text)  # on the row too: a prompt made next shows it
            notes = [*(batch.row.get("annotations") or []), {"description": text}]
            batch.row = {**batch.row, "annotations": notes}
        else:
            self._write(uuid, "annotate", "--", text)

    def done(self, uuid: str) -> None:
        if batch := self._batches.get(uuid):
            batch.ids += self._record(uuid, [COMPLETED])
            batch.done = True
            batch.row = {k: v for k, v in batch.row.items() if k != "start"}
            batch.row["status"] = "completed"
        else:
            self._write(uuid, "done", record=[COMPLETED])

    # ---- a task held under its lock (engine/drive.py, commands/review.py) --------------
    @contextlib.contextmanager
    def carry(self, row: dict[str, Any]) -> Iterator[Batch]:
        """Hold the task `row` (one export row, read under the task's lock, which the caller
        keeps for the whole block): its modify, annotate and done in the block are checked
        against the row as ttal's writes left it (no read), recorded, and written together
        in one `task` call at the end (or at `flush`). The row is kept up to date: the next
        step reads it instead of the task. An error in the block still writes what was
        decided; a crash leaves it recorded for the next read to write (reconcile.py)."""
        uuid = row["uuid"]
        if uuid in self._batches:  # already held further out: that block writes it
            yield self._batches[uuid]
            return
        batch = self._batches[uuid] = Batch(dict(row))
        try:
            yield batch
        except BaseException:
            with contextlib.suppress(TtalError):  # the block's error is the one to report
                self.flush(uuid)
            raise
        else:
            self.flush(uuid)
        finally:
            self._batches.pop(uuid, None)

    def held(self, uuid: str) -> dict[str, Any]:
        """The task as `carry` holds it, with this run's writes; read when not held."""
        batch = self._batches.get(uuid)
        return dict(batch.row) if batch else self.get(uuid)

    def flush(self, uuid: str) -> None:
        """Write what the held task `uuid` has staged, now (one call, more only for a second
        note): before something outside the task's lock counts on it."""
        batch = self._batches.get(uuid)
        calls = batch.calls(self._recorded_tags(uuid)) if batch else []
        if not batch or not calls:
            return
        ids = batch.ids
        batch.clear()
        with locks.held(locks.taskwarrior_lock(self.lock_dir)):
            for args in calls:
                self._run_write((uuid, *args), None, ids)

    def _stage(self, batch: Batch, changes: Sequence[str]) -> None:
        """A modify of the held task: the rules on the row held, then recorded and staged."""
        self.ensure_ready()
        uuid = batch.row["uuid"]
        args = (uuid, "modify", *changes)
        if self.rules is not None:
            args = self._check_rules("modify", args, before=batch.row)
        batch.ids += self._record(uuid, fields_of(changes))
        batch.row = apply_changes(batch.row, args[2:])
        batch.changes = merge_changes(batch.changes, args[2:])

    def _record(self, uuid: str, fields: Sequence[tuple[str, str]]) -> list[int]:
        return self.writes().record_writes(uuid, fields) if self.writes and fields else []

    def _recorded_tags(self, uuid: str) -> list[str]:
        if not self.writes:
            return []
        return [w.field for w in self.writes().task_writes(uuid) if w.field.startswith("+")]

    # ---- the reconciler's writes (engine/reconcile.py) ---------------------------------
    def reapply(self, uuid: str, changes: Sequence[str], done: bool = False) -> None:
        """Write again what ttal wrote before and Taskwarrior lost. No rules and no hook:
        they passed when it was first written (a re-applied approval is not the caller's)."""
        if changes:
            self._write("rc.hooks=off", uuid, "modify", *changes)
        if done:
            self._write("rc.hooks=off", uuid, "done")

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """ttal's Taskwarrior lock, for a sequence of writes that must not interleave."""
        return locks.held(locks.taskwarrior_lock(self.lock_dir))

    def raw(self, *args: str, stdin: str | None = None) -> None:
        """One write with no rules and no hook, the caller holding `locked()`: for repairs
        of the store itself (adapters/task_rewrite.py). Raises on failure."""
        result = run(self._argv("rc.hooks=off", *args), env=self._env(), stdin=stdin)
        if not result.ok:
            raise self._failed(f"task {' '.join(a for a in args if a != '-')}", result)

    def import_row(self, row: dict[str, Any]) -> None:
        """`task import` of one whole task (it replaces every field; see libraries.md §1.7)."""
        self.ensure_ready()
        with self.locked():
            self.raw("import", "-", stdin=json.dumps(row) + "\n")


def _first_line(result: Result) -> str:
    for text in (result.out, result.err):
        for line in text.splitlines():
            if line.strip():
                return line.strip()
    return f"exit {result.code}"


def _rule_relevant(changes: Sequence[str]) -> bool:
    """Does a modify touch what the tag rules look at: tags, or a person-only UDA?"""
    return any(
        c.startswith(("+", "-")) or c.partition(":")[0] in tagrules.PERSON_ONLY_UDAS
        for c in changes
    )


def tags_of(task: dict[str, Any]) -> frozenset[str]:
    return frozenset(task.get("tags") or [])
