"""A merge check that is broken, or a base that already fails it, is the project's problem,
not the branches': the queue is held and a person told once; no task is sent back to its
worker; the queue goes on by itself once the check or the base changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.conftest import Box
from tests.mq_helpers import (
    approved,
    commit_to_main,
    main_subjects,
    queue_box,
    queue_held,
    queued,
    runs,
)
from ttal.errors import Exit


def told(box: Box) -> list[tuple[str, str]]:
    """(recipient, body) of every message the merge queue sent."""
    return by_hand.rows(box, "SELECT recipient, body FROM messages WHERE body LIKE "
                        "'%merge queue%' ORDER BY id")  # fmt: skip


def holds(box: Box) -> list[tuple[str, str]]:
    return by_hand.rows(box, "SELECT state, note FROM intents WHERE action = 'queue.hold' "
                        "ORDER BY id")  # fmt: skip


def test_a_check_that_cannot_run_holds_the_queue_once_until_the_config_is_fixed(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path, check="no-such-command")
    with queue_held(box):
        first = approved(box, "Write notes", {"notes.txt": "n\n"})
        second = approved(box, "Write more notes", {"more.txt": "m\n"})
    go = box.ttal("go", first)
    assert go.returncode == Exit.WAITING, go.stdout + go.stderr
    assert "held" in go.stdout and "cannot run" in go.stdout
    # Nobody is sent back: both wait in the queue; nothing reached main.
    assert queued(box) == [(first[:8], "queued"), (second[:8], "queued")]
    assert main_subjects(box) == ["Initial commit"]
    assert [r for r, _ in told(box)] == ["human"]
    body = told(box)[0][1]
    assert "no-such-command" in body and "not found" in body and "ttal.yaml" in body
    assert not by_hand.events(box, "merge-returned")
    assert [s for s, _ in holds(box)] == ["flagged"]
    # Going again, or a watcher's pass, neither runs the check again nor says it again.
    checked = runs(box)
    again = box.ttal("go", second)
    assert again.returncode == Exit.WAITING and "held" in again.stdout
    box.ttal("deliver", "--once", check=True)
    assert runs(box) == checked and len(told(box)) == 1
    # What a person sees: the held queue in `ttal status` (and --json), and in the journal.
    shown = json.loads(box.ttal("status", "--json", check=True).stdout)
    held = [r for r in shown["merge_queue"] if r["state"] == "held"]
    assert len(held) == 1 and held[0]["project"] == "web"
    assert held[0]["command"] == "no-such-command"
    assert [f["action"] for f in shown["flagged"]] == ["queue.hold"]
    assert "queue.hold" in box.ttal("journal", check=True).stdout
    # A person's retry as it is (`ttal journal resolve`): the base is checked again, still
    # red, so held again; the person is not told twice about the same command.
    box.ttal("journal", "resolve", str(held[0]["journal"]), check=True)
    assert box.ttal("go", second).returncode == Exit.WAITING
    assert len(by_hand.events(box, "base-check-failed")) == 2
    assert [s for s, _ in holds(box)] == ["resolved", "flagged"] and len(told(box)) == 1
    # The config fixed: the queue resumes by itself and merges both.
    text = box.sb.config.read_text(encoding="utf-8")
    box.sb.config.write_text(text.replace("no-such-command", "sh check.sh"), encoding="utf-8")
    box.ttal("go", first, check=True)
    assert all("merged" in box.get(u)["tags"] for u in (first, second))
    assert [s for s, _ in holds(box)] == ["resolved", "done"] and "lifted" in holds(box)[1][1]
    assert len(told(box)) == 1 + 2  # the hold, then each task's "merged"
    assert by_hand.events(box, "merge-queue-resumed")


def test_a_base_that_fails_its_own_check_holds_the_queue_until_a_fix_lands(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = queue_box(make_box, tmp_path, batch=2)
    with queue_held(box):
        first = approved(box, "Write notes", {"notes.txt": "n\n"})
        second = approved(box, "Write more notes", {"more.txt": "m\n"})
        commit_to_main(box, {"BROKEN": "x\n"}, "A person breaks main")
    go = box.ttal("go", first)
    assert go.returncode == Exit.WAITING, go.stdout + go.stderr
    assert "held" in go.stdout
    # Red together, then the first half alone red: the base alone is checked, red too.
    assert runs(box) == [(1, "split", 2), (2, "held", 1)]
    assert by_hand.rows(box, "SELECT state, code FROM base_checks") == [("failed", 1)]
    assert queued(box) == [(first[:8], "queued"), (second[:8], "queued")]
    assert not by_hand.events(box, "merge-returned")
    assert [r for r, _ in told(box)] == ["human"]
    assert "FAIL: BROKEN is here" in told(box)[0][1]
    assert by_hand.events(box, "merge-queue-held")
    # Going again changes nothing: the base check is cached, the hold stands.
    box.ttal("go", second)
    assert len(runs(box)) == 2 and len(told(box)) == 1
    assert len(by_hand.rows(box, "SELECT id FROM base_checks")) == 1
    # A person's fix on main lifts the hold; both merge, on top of it.
    commit_to_main(box, {"BROKEN": None}, "A person fixes main")
    box.ttal("go", first, check=True)
    assert all("merged" in box.get(u)["tags"] for u in (first, second))
    assert "A person fixes main" in main_subjects(box)
    assert [s for s, _ in holds(box)] == ["done"]
    assert not by_hand.events(box, "merge-returned")


def test_a_group_whose_base_fails_its_check_waits_and_blames_no_child(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """A change across repos: web's base fails its own check, so web's child is not sent
    back; the group waits on the held queue, and merges once main is fixed."""
    box = queue_box(make_box, tmp_path, both=True)
    web = box.add("Rename in web", "project:web")
    api = box.add("Adapt api", "project:api")
    parent = box.add("Ship the rename", f"depends:{web},{api}")
    commit_to_main(box, {"BROKEN": "x\n"}, "A person breaks main")
    approved(box, "Adapt api", {"notes.txt": "n\n"}, uuid=api)
    approved(box, "Rename in web", {"notes.txt": "n\n"}, uuid=web)
    # web's child failed its check, and so did web's main alone: the queue is held.
    assert by_hand.events(box, "merge-queue-held", web)
    assert queued(box) == [(api[:8], "queued"), (web[:8], "queued")]
    assert main_subjects(box)[0] == "A person breaks main"
    assert not by_hand.events(box, "merge-returned")
    assert [r for r, _ in told(box)] == ["human"]
    commit_to_main(box, {"BROKEN": None}, "A person fixes main")
    box.ttal("go", web, check=True)
    assert all("merged" in box.get(u)["tags"] for u in (web, api))
    assert by_hand.events(box, "group-merged", parent)
