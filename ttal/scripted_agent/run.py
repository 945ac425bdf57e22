"""The "scripted" runtime: a deterministic fake coding agent that follows a YAML script.

ttal launches it as the command of a tmux session, exactly like a real agent:

    python -m ttal.scripted_agent.run --script SCRIPT.yaml --prompt-file PROMPT.md [--log LOG]

It prints the prompt, picks the first case of the script whose `match` regex is found in the
task description, and runs that case's steps in the task's worktree (its cwd). Messages from
ttal arrive on stdin, one line at a time, as text typed into the pane.

Every string in a step goes through `str.format_map` with the task's fields (uuid, short,
description, project, stage, role, round, agent); unknown names become "". Literal braces,
as in `awk '{print $1}'` or `${HOME}`, must therefore be doubled: `{{print $1}}`.

Exit codes are the contract with the tests that drive it, see `Code`.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import IO, Any, NoReturn

from ttal.adapters import proc
from ttal.errors import ExternalError
from ttal.scripted_agent.script import FIELDS, BadScript, Step, load_script


class Code(IntEnum):
    OK = 0
    STEP_FAILED = 1  # an `sh` or `ttal` step exited non-zero
    WAIT_TIMEOUT = 2  # a `wait` saw no matching line in time
    STDIN_CLOSED = 3  # stdin ended during a `wait`
    BAD_SCRIPT = 4  # script, prompt or arguments unusable; nothing was run
    INTERRUPTED = 130


# Only emitted if something asked the terminal for bracketed paste; we never do, but a stray
# marker must not stop a `wait` from matching.
PASTE_MARKERS = ("\x1b[200~", "\x1b[201~")


class Stop(Exception):
    """Ends the run with `code`; `message` (if any) is printed and logged first."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Log:
    """Timestamped lines for tests to read; append mode and a flush per line."""

    def __init__(self, path: str | None) -> None:
        self._file: IO[str] | None = None
        self.path = path
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives for the run

    def write(self, message: str) -> None:
        if self._file:
            stamp = datetime.now().isoformat(timespec="milliseconds")
            self._file.write(f"{stamp} {message}\n")
            self._file.flush()


def say(text: str) -> None:
    # The pane is a tty but tests read a pipe: flush so output order matches events.
    print(text, flush=True)


# --- inputs -----------------------------------------------------------------------------------


def task_context(prompt_file: Path, env: Mapping[str, str]) -> dict[str, object]:
    data = read_prompt_json(prompt_file.with_suffix(".json"))
    ctx: dict[str, object] = {key: data.get(key, "") for key in FIELDS}
    ctx["uuid"] = ctx["uuid"] or env.get("TTAL_TASK", "")
    ctx["short"] = ctx["short"] or str(ctx["uuid"])[:8]
    ctx["role"] = ctx["role"] or env.get("TTAL_ROLE", "")
    ctx["agent"] = env.get("TTAL_AGENT", "") or "scripted"
    return ctx


def read_prompt_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Stop(Code.BAD_SCRIPT, f"[scripted] bad prompt {path}: {exc}") from None
    if not isinstance(data, dict):
        raise Stop(Code.BAD_SCRIPT, f"[scripted] bad prompt {path}: not a JSON object")
    return data


# --- running ----------------------------------------------------------------------------------


class Stdin:
    """Lines from fd 0 with a deadline.

    Raw os.read + select instead of sys.stdin/input(): a buffered reader can hold lines that
    select() cannot see, and GNU readline 8.1+ turns on bracketed paste, which would wrap the
    text tmux types into the pane in escape sequences.
    """

    def __init__(self, log: Log) -> None:
        self._buffer = b""
        self._eof = False
        self._log = log

    def next_line(self, deadline: float | None) -> str | None:
        """A line, or None on timeout. Raises EOFError once stdin is closed and drained."""
        while b"\n" not in self._buffer:
            if self._eof:
                raise EOFError
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([0], [], [], timeout)[0]:
                return None
            self._fill()
        raw, self._buffer = self._buffer.split(b"\n", 1)
        return self._received(raw)

    def _fill(self) -> None:
        try:
            chunk = os.read(0, 4096)
        except OSError:  # the pane's tty went away
            chunk = b""
        if chunk:
            self._buffer += chunk
        else:
            self._eof = True
            if self._buffer:  # a last line without a newline still counts
                self._buffer += b"\n"

    def _received(self, raw: bytes) -> str:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        for marker in PASTE_MARKERS:
            line = line.replace(marker, "")
        say(f"[scripted] got: {line}")
        self._log.write(f"got: {line}")
        return line


@dataclass
class Runner:
    log: Log
    stdin: Stdin
    state: str = ""

    def report(self, state: str) -> None:
        """Tell ttal whether we can take messages now, as Claude Code's hooks do: busy while
        running steps, idle while waiting for input. Going idle gets queued messages typed in."""
        if state == self.state or not (
            os.environ.get("TTAL_AGENT") and os.environ.get("TTAL_CONFIG")
        ):
            return
        self.state = state
        # In-process, not `ttal report` in a subprocess: each of those is a Python start that
        # competes on 2 cores with the very `ttal go` that just spawned us (bench/).
        try:
            from ttal.commands.agents import report
            from ttal.engine.app import App

            report(App.load(), state)
        except Exception as exc:  # a lost signal must not stop the script
            self.log.write(f"report {state} failed: {exc}")
            return
        self.log.write(f"reported {state}")

    def run(self, steps: list[Step]) -> int:
        self.report("busy")
        for number, step in enumerate(steps, 1):
            tag = f"step {number}/{len(steps)} {step.label()}"
            self.log.write(f"{tag} start")
            code = STEP_RUNNERS[step.kind](self, step)
            self.log.write(f"{tag} end")
            if code is not None:
                return code
        return Code.OK

    def write(self, step: Step) -> None:
        target = Path.cwd() / step.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a" if step.kind == "append" else "w", encoding="utf-8") as f:
                f.write(step.text)
        except OSError as exc:
            fail(f"{step.kind} {step.path}: {exc.strerror or exc}")

    def sh(self, step: Step) -> None:
        say(f"$ {step.text}")
        self.command(["/bin/sh", "-c", step.text], step)

    def ttal(self, step: Step) -> None:
        say(f"$ ttal {' '.join(step.argv)}")
        self.command([sys.executable, "-m", "ttal", *step.argv], step)

    def command(self, argv: list[str], step: Step) -> None:
        # stdin is closed for the child (proc.run never passes it on) so it cannot swallow
        # messages meant for a later `wait`. No timeout: a step runs as long as it runs.
        try:
            result = proc.run(argv, timeout=None, merge_stderr=True)
        except (OSError, ExternalError) as exc:
            fail(f"{step.label()}: {exc}")
        if result.out:
            say(result.out.rstrip("\n"))
        if result.code != 0 and not step.may_fail:
            fail(f"{step.label()}: exit {result.code}")
        self.log.write(f"exit {result.code}: {step.label()}")

    def wait(self, step: Step) -> None:
        say(f"[scripted] waiting for a line containing {step.text!r}")
        deadline = time.monotonic() + step.seconds
        self.report("idle")
        try:
            while (line := self.stdin.next_line(deadline)) is not None:
                if step.text in line:
                    self.report("busy")
                    return
        except EOFError:
            raise Stop(
                Code.STDIN_CLOSED, f"[scripted] stdin closed while waiting for {step.text!r}"
            ) from None
        raise Stop(
            Code.WAIT_TIMEOUT,
            f"[scripted] wait timed out after {step.seconds:g}s: no line containing {step.text!r}",
        )

    def idle(self, step: Step) -> int:
        say("[scripted] idle: reading stdin until killed")
        self.report("idle")
        try:
            while True:
                self.stdin.next_line(None)
        except EOFError:
            self.log.write("stdin closed; idle ends")
        return Code.OK

    def sleep(self, step: Step) -> None:
        time.sleep(step.seconds)

    def say(self, step: Step) -> None:
        if step.text:
            say(step.text)

    def exit(self, step: Step) -> int:
        return step.code

    def usage(self, step: Step) -> None:
        """A model reply's tokens, written as Claude Code writes them to its transcript,
        beside the log (`<session>.usage.jsonl`), where ttal reads a scripted session's
        usage (ttal.adapters.runtimes.transcripts)."""
        if not self.log.path:
            fail("usage: no --log, so no place for the usage file")
        names = ("input_tokens", "output_tokens", "cache_read_input_tokens",
                 "cache_creation_input_tokens")  # fmt: skip
        counts = dict(zip(names, map(int, step.argv), strict=True))
        stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        message = {"id": f"msg_scripted_{os.urandom(8).hex()}", "model": step.text,
                   "usage": counts}  # fmt: skip
        line = json.dumps({"type": "assistant", "timestamp": stamp, "message": message})
        with Path(self.log.path).with_suffix(".usage.jsonl").open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        say(f"[scripted] used {sum(counts.values())} tokens of {step.text}")


def fail(message: str) -> NoReturn:
    raise Stop(Code.STEP_FAILED, f"[scripted] step failed: {message}")


STEP_RUNNERS: dict[str, Callable[[Runner, Step], int | None]] = {
    "write": Runner.write,
    "append": Runner.write,
    "sh": Runner.sh,
    "ttal": Runner.ttal,
    "wait": Runner.wait,
    "sleep": Runner.sleep,
    "say": Runner.say,
    "idle": Runner.idle,
    "exit": Runner.exit,
    "usage": Runner.usage,
}


# --- entry point ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    # argparse exits 2 on bad usage, which would read as a wait timeout.
    def error(self, message: str) -> NoReturn:
        say(f"[scripted] bad arguments: {message}")
        raise SystemExit(Code.BAD_SCRIPT)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m ttal.scripted_agent.run", description="A deterministic fake coding agent."
    )
    parser.add_argument("--script", required=True, type=Path)
    parser.add_argument("--prompt-file", required=True, type=Path)
    parser.add_argument("--log", help="append timestamped step and input lines here")
    return parser.parse_args(argv)


def start(args: argparse.Namespace, log: Log) -> int:
    try:
        prompt = args.prompt_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise Stop(
            Code.BAD_SCRIPT, f"[scripted] bad prompt {args.prompt_file}: {exc.strerror}"
        ) from None
    ctx = task_context(args.prompt_file, os.environ)
    say(prompt.rstrip("\n"))
    say(f"[scripted] {ctx['agent']} starting")
    log.write(f"start agent={ctx['agent']} role={ctx['role']} task={ctx['uuid']} cwd={Path.cwd()}")
    try:
        case, steps = load_script(args.script, ctx)
    except BadScript as exc:
        raise Stop(Code.BAD_SCRIPT, f"[scripted] bad script {args.script}: {exc}") from None
    log.write(f"script {args.script} {case}: {len(steps)} steps")
    return Runner(log, Stdin(log)).run(steps)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        log = Log(args.log)
    except OSError as exc:
        say(f"[scripted] bad arguments: cannot open log {args.log}: {exc.strerror}")
        return Code.BAD_SCRIPT
    try:
        code = start(args, log)
    except Stop as stop:
        if stop.message:
            say(stop.message)
            log.write(stop.message)
        code = stop.code
    except KeyboardInterrupt:
        code = Code.INTERRUPTED
    log.write(f"exit {int(code)}")
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
