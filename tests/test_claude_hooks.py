"""ttal's Claude Code hooks as Claude Code runs them, without the program: the command
strings from the settings ttal writes, run with `sh -c` and the JSON Claude pipes in, in the
environment of an agent's session. The real program runs them in tests/test_claude_e2e.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Box
from tests.mesh_helpers import recorded, recorder_box, send, sent, up, wait_body
from ttal.adapters.runtimes import claude_config

MGR = {"TTAL_AGENT": "mgr", "TTAL_ROLE": "manager"}


@pytest.fixture
def team(make_box: Callable[..., Box], tmp_path: Path) -> Box:
    """Managers mgr and boss that record what reaches their terminals."""
    return recorder_box(make_box, tmp_path / "rec", ["mgr", "boss"])


def hooks(event: str) -> list[str]:
    settings = claude_config.settings([sys.executable, "-m", "ttal"])
    return [entry["hooks"][0]["command"] for entry in settings["hooks"][event]]


def run_hooks(box: Box, event: str, payload: dict[str, Any], env: dict[str, str]) -> list[str]:
    """Run `event`'s hooks as Claude Code would; each must succeed and print nothing (for
    UserPromptSubmit, what a hook prints is added to the conversation)."""
    data = json.dumps({"session_id": "s-1", "hook_event_name": event, **payload})
    outputs = []
    for command in hooks(event):
        proc = subprocess.run(["sh", "-c", command], input=data, env={**box.env, **env},
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert (proc.returncode, proc.stdout) == (0, ""), f"{command}: {proc.stderr}"
        outputs.append(proc.stderr)
    return outputs


def acked(box: Box, name: str) -> dict[int, bool]:
    inbox = json.loads(box.ttal("inbox", name, "--json", check=True).stdout)
    return {m["id"]: m["acked"] for m in inbox["messages"]}


def state_of(box: Box, name: str) -> str:
    rows = json.loads(box.ttal("agents", "--json", check=True).stdout)
    return str(next(r["state"] for r in rows if r["agent"] == name))


def test_user_prompt_submit_acks_only_the_messages_the_prompt_holds(team: Box) -> None:
    mine = sent(send(team, "mgr", "the release is friday"))["id"]
    from_boss = sent(send(team, "mgr", "check the api", env={"TTAL_AGENT": "boss"}))["id"]
    to_boss = sent(send(team, "boss", "not for mgr"))["id"]
    prompt = "\n".join([
        f"[ttal #{mine} from human]", "the release is friday", "[reply with: ...]",
        f"> [ttal #{from_boss} from boss]",  # a header quoted in a body (ttal quotes them)
        f"as in [ttal #{from_boss} from boss]",  # not a header line
        f"[ttal #{from_boss} from human]",  # the wrong sender
        f"[ttal #{to_boss} from human]",  # another agent's message
    ])  # fmt: skip
    run_hooks(team, "UserPromptSubmit", {"prompt": prompt}, MGR)
    assert acked(team, "mgr") == {mine: True, from_boss: False}
    assert acked(team, "boss") == {to_boss: False}
    assert state_of(team, "mgr") == "offline"  # reported busy, but its session is not up

    # A prompt that is the message itself, as delivered, acknowledges it.
    typed = f"[ttal #{from_boss} from boss]\ncheck the api\n[reply with: ...]"
    run_hooks(team, "UserPromptSubmit", {"prompt": typed}, MGR)
    assert acked(team, "mgr") == {mine: True, from_boss: True}

    # Exit 2 makes Claude Code erase the prompt (UserPromptSubmit) or go on with the hook's
    # stderr as its next instruction (Stop), and ttal's usage errors exit 2: the hooks turn
    # every failure into 1. Without TTAL_AGENT `ttal ack -` and `ttal report` refuse.
    for command in [*hooks("UserPromptSubmit"), *hooks("Stop")]:
        proc = subprocess.run(["sh", "-c", command], input="{}", env=team.env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 1 and "who?" in proc.stderr, (command, proc.stderr)


def test_notification_reports_waiting_and_holds_messages(team: Box, tmp_path: Path) -> None:
    up(team, "mgr")
    run_hooks(team, "Notification", {"message": "Claude needs your permission",
                                     "notification_type": "permission_prompt"}, MGR)  # fmt: skip
    assert state_of(team, "mgr") == "waiting"
    assert "waiting" in team.ttal("agents", check=True).stdout
    result = sent(send(team, "mgr", "typed into a dialog it would answer it"))
    assert result["status"] == "queued", result
    assert not [line for line in recorded(tmp_path / "rec" / "mgr.hex") if b"ttal #" in line]

    run_hooks(team, "Stop", {}, MGR)  # the person answered; the turn ended
    assert wait_body(tmp_path / "rec" / "mgr.hex", result["id"]) == [
        "typed into a dialog it would answer it"
    ]
    assert state_of(team, "mgr") == "idle"
