"""Managers that record what reaches their terminal, and ways to read it back."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Box, wait_for

RECORDER = Path(__file__).resolve().parent / "recorder.py"
FOOTERS = (b"[reply with:", b"[from ttal itself")


def recorder_box(
    make_box: Callable[..., Box], out_dir: Path, names: list[str], acks: bool = False,
    recorder_args: str = "", **kwargs: Any,
) -> Box:  # fmt: skip
    """A sandbox whose managers `names` each run tests/recorder.py, writing what they read
    to out_dir/<name>.hex. `kwargs` go to sandbox.build."""
    out_dir.mkdir(parents=True, exist_ok=True)
    command = shlex.join([sys.executable, str(RECORDER), "--out", f"{out_dir}/AGENT.hex"])
    command += (" --acks" if acks else "") + (f" {recorder_args}" if recorder_args else "")
    runtimes = "\n".join(
        f"rec-{n}: {{kind: command, command: {json.dumps(command.replace('AGENT', n))}}}"
        for n in names
    )
    agents = "\n".join(f"{n}: {{role: manager, runtime: rec-{n}}}" for n in names)
    return make_box(runtimes_yaml=runtimes, agents_yaml=agents, **kwargs)


def send(
    box: Box, to: str, body: str, *args: str, env: dict[str, str] | None = None,
    argv: bool = False,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`ttal send --to TO`, the body on stdin (or as the argument after `--`)."""
    tail = ["--", body] if argv else ["-"]
    return subprocess.run(
        [sys.executable, "-m", "ttal", "send", "--to", to, "--json", *args, *tail],
        env={**box.env, **(env or {})}, input=None if argv else body,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def sent(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def recorded(path: Path) -> list[bytes]:
    """Every line the recorder read, as bytes."""
    if not path.exists():
        return []
    return [bytes.fromhex(h) for h in path.read_text(encoding="ascii").splitlines()]


def body_of(lines: list[bytes], message_id: int) -> list[str] | None:
    """The body lines of message `message_id` as they arrived: between its header line and
    its reply hint. None until the whole message is there."""
    header = f"[ttal #{message_id} from ".encode()
    starts = [i for i, line in enumerate(lines) if line.startswith(header)]
    if not starts:
        return None
    rest = lines[starts[0] + 1 :]
    ends = [i for i, line in enumerate(rest) if line.startswith(FOOTERS)]
    return [line.decode() for line in rest[: ends[0]]] if ends else None


def wait_body(path: Path, message_id: int, timeout: float = 20) -> list[str]:
    found: list[str] = wait_for(lambda: body_of(recorded(path), message_id), timeout,
                                f"message #{message_id} in {path.name}")  # fmt: skip
    return found


def up(box: Box, *names: str) -> list[dict[str, Any]]:
    proc = box.ttal("up", *names, "--json", check=True)
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result
