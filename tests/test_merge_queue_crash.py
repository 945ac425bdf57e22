"""The merge queue's crash safety: ttal is killed (as by kill -9) at each of its fault
points (ttal.faults.QUEUE_POINTS) while it drives a batch of a good branch and a bad one;
then `ttal go` runs again. The end state must equal an uninterrupted run's: the good one
merged once, the bad one sent back once, no check process or throwaway worktree left, and
no intent open."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.conftest import Box
from tests.mq_helpers import (
    approved,
    check_processes,
    commit_to_main,
    main_subjects,
    queue_box,
    queue_held,
)
from tests.test_crash import KILLED
from tests.test_random_kills import SEEDS, run_killed_maybe
from ttal.errors import Exit
from ttal.faults import HOLD_POINTS, QUEUE_POINTS


def drive(box: Box, good: str, fault: str) -> bool:
    """`ttal go` of the good task with `fault` armed, then unarmed until it is merged."""
    armed = {"TTAL_FAULT": fault, "TTAL_FAULT_LOG": str(box.sb.root / "faults.log")}
    first = box.ttal("go", good, env=armed if fault else None)
    killed = first.returncode == KILLED
    assert killed or first.returncode == 0, first.stdout + first.stderr
    if killed and fault == "check.start":  # the check outlived its runner: settle stops it
        assert check_processes(box), "the check should still run after its runner died"
    for _ in range(4):
        if "merged" in box.get(good).get("tags", []):
            break
        box.ttal("go", good)
    return killed


def final_state(box: Box, good: str, bad: str) -> dict[str, Any]:
    def ids(text: str) -> str:
        return text.replace(good[:8], "GOOD").replace(bad[:8], "BAD")

    told = by_hand.rows(box, "SELECT recipient, body FROM messages WHERE body LIKE "
                        "'%merge queue%' OR body LIKE '%merged into%'")  # fmt: skip
    return {
        "good": (box.get(good)["status"], sorted(box.get(good)["tags"])),
        "bad": (box.get(bad)["status"], sorted(box.get(bad)["tags"])),
        "main": [ids(s).split(" (ttal task")[0] for s in main_subjects(box)],
        "queue": [
            (ids(t[:8]), s)
            for t, s in by_hand.rows(box, "SELECT task, state FROM merge_queue ORDER BY ts")
        ],
        "told": sorted((ids(r), "merged" if "merged into" in b else "sent back") for r, b in told),
        "check processes": check_processes(box),
        "throwaway worktrees": [p for p in by_hand.worktrees(box, "web") if "/checks/" in p],
        "open intents": by_hand.rows(
            box, "SELECT action, note FROM intents WHERE state IN ('pending', 'flagged', 'unknown')"
        ),
        "checkout": box.git("web", "status", "--porcelain"),
    }


EXPECTED = {
    "good": ("completed", ["coded", "lgtm", "merged", "reviewing"]),
    "bad": ("pending", ["coded", "lgtm", "reviewing"]),
    "main": ["Merge ttal/GOOD-good-notes: Good notes", "Initial commit"],
    "queue": [("BAD", "returned")],
    "told": [("human", "merged"), ("human", "sent back"), ("w-BAD", "sent back")],
    "check processes": [],
    "throwaway worktrees": [],
    "open intents": [],
    "checkout": "",
}


@pytest.mark.parametrize("fault", ["", *QUEUE_POINTS], ids=["uninterrupted", *QUEUE_POINTS])
def test_killed_at_every_queue_point_then_go_again(
    make_box: Callable[..., Box], tmp_path: Path, fault: str
) -> None:
    box = queue_box(make_box, tmp_path, batch=2)
    with queue_held(box):
        good = approved(box, "Good notes", {"notes.txt": "good\n", "SLOW": "3\n"})
        bad = approved(box, "Bad notes", {"bad.txt": "bad\n", "BROKEN": "x\n"})
    killed = drive(box, good, fault)
    assert box.ttal("go", bad).returncode == Exit.CONFLICT
    box.ttal("deliver", "--once", check=True)  # finishes the merged task
    assert final_state(box, good, bad) == EXPECTED, f"killed at {fault}"
    if fault:
        assert killed, f"the fault point {fault} never killed the driver"
        fired = (box.sb.root / "faults.log").read_text(encoding="utf-8").split()[0]
        assert fired == fault


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
def test_driver_killed_at_random_times_then_go_again(
    make_box: Callable[..., Box], tmp_path: Path, seed: int
) -> None:
    """As test_random_kills.py, for the queue: the driving `ttal go` is SIGKILLed after a
    random delay (up to three times), then driven unarmed; the end state is the same."""
    rng = random.Random(seed)
    box = queue_box(make_box, tmp_path, batch=2)
    with queue_held(box):
        good = approved(box, "Good notes", {"notes.txt": "good\n", "SLOW": "1\n"})
        bad = approved(box, "Bad notes", {"bad.txt": "bad\n", "BROKEN": "x\n"})
    kills = 0
    for _ in range(3):
        kills += run_killed_maybe(box, ("go", good), {}, rng, sure=kills == 0)
    assert kills, f"seed {seed}: no kill landed"
    drive(box, good, "")
    assert box.ttal("go", bad).returncode == Exit.CONFLICT
    box.ttal("deliver", "--once", check=True)
    assert final_state(box, good, bad) == EXPECTED, f"seed {seed}"


HELD = {
    "queue": [("GOOD", "queued"), ("BAD", "queued")],
    "main": ["A person breaks main", "Initial commit"],
    "told": [("human", "held")],
    "holds": ["flagged"],
    "returned": [],
    "check processes": [],
    "throwaway worktrees": [],
    "open intents": [],
}


def held_state(box: Box, first: str, second: str) -> dict[str, Any]:
    def ids(text: str) -> str:
        return text.replace(first[:8], "GOOD").replace(second[:8], "BAD")

    queue = by_hand.rows(box, "SELECT task, state FROM merge_queue ORDER BY ts")
    told = by_hand.rows(box, "SELECT recipient, body FROM messages WHERE body LIKE '%merge queue%'")
    holds = by_hand.rows(box, "SELECT state FROM intents WHERE action = 'queue.hold'")
    open_intents = "SELECT action, note FROM intents WHERE state IN ('pending', 'unknown')"
    return {
        "queue": [(ids(t[:8]), s) for t, s in queue],
        "main": main_subjects(box),
        "told": [(r, "held" if " held: " in b else b) for r, b in told],
        "holds": [s for (s,) in holds],
        "returned": by_hand.events(box, "merge-returned"),
        "check processes": check_processes(box),
        "throwaway worktrees": [p for p in by_hand.worktrees(box, "web") if "/checks/" in p],
        "open intents": by_hand.rows(box, open_intents),
    }


@pytest.mark.parametrize("fault", ["", *HOLD_POINTS], ids=["uninterrupted", *HOLD_POINTS])
def test_killed_while_holding_a_broken_base_then_go_again(
    make_box: Callable[..., Box], tmp_path: Path, fault: str
) -> None:
    """A base that fails its own check: ttal is killed at each step of holding the queue;
    the end state is an uninterrupted run's (one hold, said once, nobody sent back), and a
    person's fix on the base lets both merge."""
    box = queue_box(make_box, tmp_path)
    with queue_held(box):
        first = approved(box, "Good notes", {"notes.txt": "good\n"})
        second = approved(box, "More notes", {"more.txt": "more\n"})
        commit_to_main(box, {"BROKEN": "x\n"}, "A person breaks main")
    armed = {"TTAL_FAULT": fault, "TTAL_FAULT_LOG": str(box.sb.root / "faults.log")}
    go = box.ttal("go", first, env=armed if fault else None)
    assert go.returncode == (KILLED if fault else Exit.WAITING), go.stdout + go.stderr
    again = box.ttal("go", first)
    assert again.returncode == Exit.WAITING, again.stdout + again.stderr
    assert held_state(box, first, second) == HELD, f"killed at {fault}"
    commit_to_main(box, {"BROKEN": None}, "A person fixes main")
    box.ttal("go", first, check=True)
    assert all("merged" in box.get(u)["tags"] for u in (first, second))
