"""Crashes at random times, not only at the named fault points (tests/test_crash.py): every
ttal command of a task's pipeline is SIGKILLed after a random delay, as a person's `kill -9`
or a dying machine would, and so is the `ttal go` that `ttal review approve` leaves running.
Then `ttal recover` and `ttal go` run until nothing is left to do, and the end state must equal
an uninterrupted run's: merged once, told once, nothing orphaned, no intent left open.

A few seeded trials run in `make test`; TTAL_SOAK=1 runs many more. A failure names its seed:
TTAL_KILL_SEED=<seed> replays it.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import by_hand
from tests.by_hand import commit, reviewer_env, worker_env
from tests.conftest import Box, wait_for
from tests.test_crash import continuations, expected_state, final_state
from ttal.errors import Exit

SEEDS = (
    [int(os.environ["TTAL_KILL_SEED"])]
    if os.environ.get("TTAL_KILL_SEED")
    else list(range(40 if os.environ.get("TTAL_SOAK") else 3))
)
MAX_DELAY = 0.6  # seconds: past the slowest step on a loaded 2-core machine, most runs finish
SURE_DELAY = 0.08  # seconds: shorter than any ttal command, so this kill always lands
STEPS = ("spawn", "advance", "approve")


def run_killed_maybe(box: Box, args: tuple[str, ...], env: dict[str, str],
                     rng: random.Random, sure: bool) -> bool:  # fmt: skip
    """Start `ttal ARGS`; SIGKILL it after a random delay (always when `sure`, else with
    even odds). True if the kill landed while it ran."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttal", *args],
        env={**box.env, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    delay = rng.uniform(0, MAX_DELAY) if rng.random() < 0.5 else None
    delay = rng.uniform(0.01, SURE_DELAY) if sure else delay
    try:
        proc.wait(timeout=delay if delay is not None else 60)
    except subprocess.TimeoutExpired:
        if delay is None:
            raise
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    return False


def again(box: Box, args: tuple[str, ...], env: dict[str, str]) -> None:
    """The command once more, as the agent would after its crash: done, or waiting (the
    killed run had already finished its work) are both right."""
    proc = box.ttal(*args, env=env)
    assert proc.returncode in (0, Exit.WAITING), f"{args}: {proc.returncode}\n{proc.stderr}"


def kill_continuations(uuid: str, rng: random.Random) -> bool:
    """The background `ttal go` that approval starts: sometimes killed mid-merge. True if
    one was running when the kill was sent."""
    if rng.random() >= 0.5:
        return False
    time.sleep(rng.uniform(0, MAX_DELAY))
    running = continuations(uuid)
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return bool(running)


def drive(box: Box, rng: random.Random) -> tuple[str, list[str]]:
    """The pipeline by hand, each command perhaps killed; one of them (the seed picks which)
    surely. Returns the task and the steps whose command was killed."""
    killed: list[str] = []
    sure = rng.choice(STEPS)
    uuid = box.add("Write the notes", "project:web")
    if run_killed_maybe(box, ("go", uuid), {}, rng, sure == "spawn"):
        killed.append("spawn")
        box.ttal("recover", check=True)
        again(box, ("go", uuid), {})
    commit(box, uuid, "notes.md", "# notes\n", "Write the notes")
    if run_killed_maybe(box, ("go",), worker_env(uuid), rng, sure == "advance"):
        killed.append("advance")
        box.ttal("recover", check=True)
        again(box, ("go",), worker_env(uuid))
    if run_killed_maybe(box, ("review", "approve"), reviewer_env(uuid), rng, sure == "approve"):
        killed.append("approve")
    if kill_continuations(uuid, rng):
        killed.append("merge")
    wait_for(lambda: not continuations(uuid), timeout=60, what="background go to end")
    box.ttal("recover", check=True)
    for _ in range(4):  # a person runs `ttal go` until it has nothing left to do
        proc = box.ttal("go", uuid)
        if "already merged" in proc.stdout:
            break
        if proc.returncode != 0 and "review" in proc.stderr + proc.stdout:
            # Approval was killed before it was recorded: the review lead approves again,
            # as it would on its next turn.
            box.ttal("review", "approve", env=reviewer_env(uuid))
            wait_for(lambda: not continuations(uuid), timeout=60, what="background go to end")
    return uuid, killed


def diagnosis(box: Box) -> str:
    """What a person would look at: the base's checkout and history, and the journal."""
    intents = by_hand.rows(box, "SELECT action, state, note FROM intents")
    return "\n".join([box.git("web", "status", "--short", "--branch"),
                      box.git("web", "log", "--oneline", "--graph", "--all"),
                      *(" | ".join(map(str, row)) for row in intents)])  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed-{s}" for s in SEEDS])
def test_random_kills_converge_to_the_uninterrupted_state(
    make_box: Callable[..., Box], tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    box = by_hand.idle_box(make_box, tmp_path)
    uuid, killed = drive(box, rng)
    assert killed, f"seed {seed}: no kill landed, so this trial proved nothing"
    try:
        state = final_state(box, uuid)
    except FileNotFoundError:  # the merged file is not in the base's checkout
        pytest.fail(f"seed {seed}: killed during {killed}; notes.md missing\n{diagnosis(box)}")
    assert state == expected_state(), f"seed {seed}: killed during {killed}\n{diagnosis(box)}"
