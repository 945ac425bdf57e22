"""What the end-to-end tests of real agent programs share (tests/test_claude_e2e.py,
tests/test_codex_e2e.py): finding the program, a team of agents that all run it, each on its
own route of a scripted model server, and waiting on them with a diagnosis on timeout."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.fake_model import FakeModel

TIMEOUT = 90  # seconds for a whole pipeline; a step takes ~2 s on 2 cores


def real_program(path: Path, what: str, install: str, version: str) -> Path:
    """`path`, when it is the program at `version` (`--version` prints it, maybe followed by
    a space and more); else the test is skipped, saying why. `what` is the program's name and
    `install` how to get it."""
    if not os.access(path, os.X_OK):
        pytest.skip(f"{what} is not installed at {path}: {install}")
    proc = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip(f"{path} --version failed ({proc.returncode}): {proc.stderr.strip()[:200]}")
    found = proc.stdout.strip()
    if found != version and not found.startswith(version + " "):
        pytest.skip(f"{path} is {found}, these tests were written for {version}")
    return path


def team_box(
    make_box: Callable[..., Box], kind: str, runtime_of: Callable[[str], dict[str, Any]]
) -> Box:
    """A sandbox whose worker, review lead and managers `lead` and `lead2` all run the
    runtime `runtime_of(route)` of `kind`, each on its own route: worker, reviewer, lead and
    lead2."""
    routes = {f"{kind}-{route}": route for route in ("worker", "reviewer", "lead", "lead2")}
    runtimes = "\n".join(f"{name}: {json.dumps(runtime_of(route))}"
                         for name, route in routes.items())  # fmt: skip
    agents = "\n".join(f"{n}: {{role: manager, runtime: {kind}-{n}}}" for n in ("lead", "lead2"))
    box = make_box(runtimes_yaml=runtimes, agents_yaml=agents)
    text = box.sb.config.read_text(encoding="utf-8")
    for agent, name in (("coder", "worker"), ("review-lead", "reviewer")):
        old = f"{agent}: {{role: {name}, runtime: scripted-{name}}}"
        assert old in text, f"sandbox config changed: no {old!r}"
        text = text.replace(old, f"{agent}: {{role: {name}, runtime: {kind}-{name}}}")
    box.sb.config.write_text(text, encoding="utf-8")
    return box


def wait(box: Box, fake: FakeModel, check: Callable[[], Any], what: str,
         timeout: float = TIMEOUT) -> Any:  # fmt: skip
    """Poll with a deadline; on timeout, show every pane and every turn served."""
    try:
        return wait_for(check, timeout, what, interval=0.2)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}\n{diagnose(box, fake)}") from None


def diagnose(box: Box, fake: FakeModel) -> str:
    lines = [f"served: {[(route, turn) for route, turn in fake.served]}"]
    for route in sorted({r.route for r in fake.requests}):
        last = fake.of(route)[-1:]
        lines.append(f"tool results on {route}: {last[0].tool_results() if last else []}")
    for name in box.sessions():
        proc = subprocess.run(["tmux", "-L", box.sb.socket, "capture-pane", "-p", "-t",
                               f"={name}:"], capture_output=True, text=True)  # fmt: skip
        screen = "\n".join(line for line in proc.stdout.splitlines() if line.strip())
        lines.append(f"--- pane {name} ---\n{screen[-3000:]}")
    for log in sorted((box.sb.state_dir / "run").glob("*.log")):
        lines.append(f"--- {log.name} ---\n{log.read_text(errors='replace')[-1500:]}")
    return "\n".join(lines)


def status_of(box: Box, name: str) -> tuple[str, str] | None:
    found = by_hand.rows(box, "SELECT state, source FROM agent_status WHERE agent = ?", name)
    return (found[0][0], found[0][1]) if found else None


def bodies(box: Box, inbox: str, sender: str) -> list[str]:
    """The bodies of the messages in `inbox` from `sender`, oldest first."""
    found = json.loads(box.ttal("inbox", inbox, "--json", check=True).stdout)
    return [m["body"] for m in found["messages"] if m["from"] == sender]


def acked(box: Box, name: str) -> dict[int, bool]:
    """Each message to `name`, by id: whether it acknowledged it."""
    inbox = json.loads(box.ttal("inbox", name, "--json", check=True).stdout)
    return {m["id"]: m["acked"] for m in inbox["messages"]}


def merged_through_review(box: Box, fake: FakeModel, name: str, text: str) -> dict[str, Any]:
    """Add a task, `ttal go` it, and check that the scripted worker and review lead take it
    to merged: tags, the worker's file `name` on main, one approval, sessions gone, every
    scripted turn taken. Returns the task as merged."""
    uuid = box.add("Write a file", "project:api")
    box.ttal("go", uuid, check=True)
    wait(box, fake, lambda: box.get(uuid)["status"] == "completed", "the merge")
    task = box.get(uuid)
    assert {"coded", "reviewing", "lgtm", "merged"} <= set(task["tags"])
    assert box.git("api", "show", f"main:{name}") == text
    approved = [n for n in by_hand.annotations(box, uuid) if "review implement: approved" in n]
    assert len(approved) == 1 and approved[0].endswith(": ok"), approved
    wait(box, fake, lambda: not box.sessions(), "sessions cleaned up")
    assert (fake.pending("worker"), fake.pending("reviewer")) == (0, 0)  # every turn was taken
    return task
