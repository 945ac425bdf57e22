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
from tests.mq_helpers import approved, check_processes, main_subjects, queue_box, queue_held
from tests.test_crash import KILLED
from tests.test_random_kills import SEEDS, run_killed_maybe
from ttal.errors import Exit
from ttal.faults import QUEUE_POINTS


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
