"""The scripted fake agent, run for real as a subprocess with stdin on a pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import wait_for

REPO = Path(__file__).resolve().parents[1]
UUID = "0123abcd-0000-4000-8000-000000000042"
WAIT_LIMIT = 10.0  # seconds; a safety net for a hung child, not a speed assertion


@dataclass
class Agent:
    """One run's files: the worktree it works in, its script, prompt and log."""

    root: Path

    @property
    def worktree(self) -> Path:
        return self.root / "wt"

    @property
    def script(self) -> Path:
        return self.root / "run" / "script.yaml"

    @property
    def prompt(self) -> Path:
        return self.root / "run" / "PROMPT.md"

    @property
    def log(self) -> Path:
        return self.root / "run" / "agent.log"

    def log_lines(self) -> list[str]:
        # Drop the timestamp: tests care about the events and their order.
        text = self.log.read_text() if self.log.exists() else ""
        return [line.split(" ", 1)[1] for line in text.splitlines()]

    def start(self, *, stdin: int = subprocess.PIPE) -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "TTAL_AGENT": "tester",
            "TTAL_ROLE": "worker",
            "TTAL_TASK": UUID,
        }
        argv = [sys.executable, "-m", "ttal.scripted_agent.run", "--script", str(self.script)]
        argv += ["--prompt-file", str(self.prompt), "--log", str(self.log)]
        return subprocess.Popen(
            argv,
            cwd=self.worktree,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = self.start(stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE)
        out, err = proc.communicate(stdin, timeout=WAIT_LIMIT)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    made = Agent(tmp_path)
    made.worktree.mkdir()
    made.script.parent.mkdir()
    made.prompt.write_text("# Task\nAdd a greeting.\n")
    fields = {"uuid": UUID, "short": UUID[:8], "description": "Add a greeting", "round": 2}
    made.prompt.with_suffix(".json").write_text(json.dumps(fields))
    return made


WORK_SCRIPT = """\
- write: {path: "notes/{short}.txt", text: "{description} r{round}{nope}\\n"}
- append: {path: "notes/{short}.txt", text: "by {agent} as {role}\\n"}
- sh: "cat notes/*.txt > copy.txt && echo sh-ran"
- wait: {contains: "go ahead", timeout: 5}
- say: "done {short}"
"""


def test_script_writes_runs_sh_waits_for_a_message_and_exits(agent: Agent) -> None:
    agent.script.write_text(WORK_SCRIPT)
    proc = agent.start()
    assert proc.stdin is not None
    wait_for(lambda: "step 4/5 wait go ahead start" in agent.log_lines(), WAIT_LIMIT,
             "the wait step", interval=0.02)  # fmt: skip

    # The file and the shell step happen before any message arrives.
    expected = "Add a greeting r2\nby tester as worker\n"
    assert (agent.worktree / "notes" / "0123abcd.txt").read_text() == expected
    assert (agent.worktree / "copy.txt").read_text() == expected
    assert proc.poll() is None, "the agent must block until the message arrives"

    out, err = proc.communicate("first line\nplease go ahead now\n", timeout=WAIT_LIMIT)

    assert proc.returncode == 0, out + err
    assert out.startswith("# Task\nAdd a greeting.\n[scripted] tester starting\n")
    assert "$ cat notes/*.txt > copy.txt && echo sh-ran\nsh-ran\n" in out
    assert "[scripted] got: first line\n[scripted] got: please go ahead now\n" in out
    assert out.endswith("done 0123abcd\n")
    assert err == ""
    assert agent.log_lines() == [
        f"start agent=tester role=worker task={UUID} cwd={agent.worktree}",
        f"script {agent.script} case 1: 5 steps",
        "step 1/5 write notes/0123abcd.txt start",
        "step 1/5 write notes/0123abcd.txt end",
        "step 2/5 append notes/0123abcd.txt start",
        "step 2/5 append notes/0123abcd.txt end",
        "step 3/5 sh cat notes/*.txt > copy.txt && echo sh-ran start",
        "exit 0: sh cat notes/*.txt > copy.txt && echo sh-ran",
        "step 3/5 sh cat notes/*.txt > copy.txt && echo sh-ran end",
        "step 4/5 wait go ahead start",
        "got: first line",
        "got: please go ahead now",
        "step 4/5 wait go ahead end",
        "step 5/5 say done 0123abcd start",
        "step 5/5 say done 0123abcd end",
        "exit 0",
    ]


CASES_SCRIPT = """\
cases:
  - match: "merge conflict"
    steps: [{say: "resolving"}, {exit: 7}]
  - steps: [{say: "default"}]
"""


@pytest.mark.parametrize(
    ("description", "said", "code"),
    [
        pytest.param("Fix the MERGE CONFLICT in main", "resolving", 7, id="match-ignores-case"),
        pytest.param("Add a greeting", "default", 0, id="case-without-match"),
    ],
)
def test_first_matching_case_wins(agent: Agent, description: str, said: str, code: int) -> None:
    agent.prompt.with_suffix(".json").write_text(json.dumps({"description": description}))
    agent.script.write_text(CASES_SCRIPT)

    result = agent.run()

    assert result.returncode == code
    assert result.stdout.endswith(f"starting\n{said}\n")


def test_sh_failure_stops_the_script_unless_may_fail(agent: Agent) -> None:
    agent.script.write_text(
        '- sh: {cmd: "echo tolerated; exit 3", may_fail: true}\n'
        '- sh: "echo broken >&2; exit 5"\n'
        "- write: {path: never.txt, text: x}\n"
    )

    result = agent.run()

    assert result.returncode == 1
    assert "tolerated\n" in result.stdout
    assert "broken\n[scripted] step failed: sh echo broken >&2; exit 5: exit 5\n" in result.stdout
    assert not (agent.worktree / "never.txt").exists()


def test_wait_times_out_with_exit_2(agent: Agent) -> None:
    agent.script.write_text("- wait: {contains: never, timeout: 1}\n")
    proc = agent.start()
    assert proc.stdout is not None and proc.stdin is not None

    # stdin stays open (communicate() would close it), so only the timeout can end the wait;
    # the output is a few lines, far below the pipe buffer, so waiting cannot deadlock.
    proc.wait(timeout=WAIT_LIMIT)
    out = proc.stdout.read()
    proc.stdin.close()

    assert proc.returncode == 2
    assert "[scripted] wait timed out after 1s: no line containing 'never'" in out
    assert agent.log_lines()[-1] == "exit 2"


def test_stdin_closed_during_wait_exits_3(agent: Agent) -> None:
    agent.script.write_text("- wait: go\n")

    result = agent.run(stdin="not yet\n")

    assert result.returncode == 3
    assert result.stdout.endswith(
        "[scripted] got: not yet\n[scripted] stdin closed while waiting for 'go'\n"
    )


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        pytest.param(None, "No such file or directory", id="missing-file"),
        pytest.param("- say: [unclosed\n", "invalid YAML", id="invalid-yaml"),
        pytest.param(
            "- say: hi\n- jump: 3\n", "case 1 step 2: unknown step `jump`", id="unknown-key"
        ),
        pytest.param("- say: '{}'\n", "case 1 step 1: bad `say`", id="bad-template"),
        pytest.param("cases: [{match: nothing, steps: []}]\n", "no case matches", id="no-case"),
    ],
)
def test_bad_script_exits_4_with_one_clear_line(
    agent: Agent, script: str | None, problem: str
) -> None:
    if script is not None:
        agent.script.write_text(script)

    result = agent.run()

    assert result.returncode == 4
    last = result.stdout.splitlines()[-1]
    assert last.startswith(f"[scripted] bad script {agent.script}: ")
    assert problem in last
    assert "Traceback" not in result.stdout + result.stderr
    assert agent.log_lines()[-1] == "exit 4"
