"""The mesh through the CLI: queues for offline and busy managers, resends dropped,
refusals that write nothing, and alerts that climb to the spawner."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import by_hand
from tests.conftest import Box, wait_for
from tests.mesh_helpers import recorder_box, send, sent, up, wait_body

IDLE = "- idle: true\n"


def inbox(box: Box, name: str) -> list[dict[str, Any]]:
    proc = box.ttal("inbox", name, "--json", check=True)
    messages: list[dict[str, Any]] = json.loads(proc.stdout)["messages"]
    return messages


def agent_row(box: Box, name: str) -> dict[str, Any]:
    rows = json.loads(box.ttal("agents", "--json", check=True).stdout)
    row: dict[str, Any] = next(r for r in rows if r["agent"] == name)
    return row


def messages(box: Box) -> list[tuple[Any, ...]]:
    return by_hand.rows(box, "SELECT sender, recipient, body FROM messages ORDER BY id")


@pytest.fixture
def team(make_box: Callable[..., Box], tmp_path: Path) -> Box:
    """Managers mgr and boss (recorders); workers and reviewers only idle."""
    script = tmp_path / "idle.yaml"
    script.write_text(IDLE, encoding="utf-8")
    notify = f"notify: {json.dumps(f'cat >> {tmp_path}/notified.txt')}\n"
    return recorder_box(make_box, tmp_path / "rec", ["mgr", "boss"], extra_yaml=notify,
                        worker_script=script, reviewer_script=script)  # fmt: skip


def test_offline_manager_gets_its_queue_on_up(team: Box, tmp_path: Path) -> None:
    result = sent(send(team, "mgr", "while you were out"))
    assert result["status"] == "queued" and "offline" in result["detail"]
    assert [m["status"] for m in inbox(team, "mgr")] == ["queued"]
    row = agent_row(team, "mgr")
    assert (row["state"], row["unread"]) == ("offline", 1)

    assert up(team, "mgr") == [{"agent": "mgr", "action": "started", "delivered": 1}]
    assert wait_body(tmp_path / "rec" / "mgr.hex", result["id"]) == ["while you were out"]
    assert [m["status"] for m in inbox(team, "mgr")] == ["delivered"]
    assert agent_row(team, "mgr")["unread"] == 0

    assert up(team, "mgr") == [{"agent": "mgr", "action": "already up", "delivered": 0}]
    down = [json.loads(team.ttal("down", "mgr", "--json", check=True).stdout) for _ in "12"]
    assert [d[0]["action"] for d in down] == ["stopped", "already down"]
    assert agent_row(team, "mgr")["state"] == "offline"


def test_busy_manager_gets_messages_when_idle(team: Box, tmp_path: Path) -> None:
    up(team, "mgr")
    team.ttal("report", "busy", "--agent", "mgr", check=True)
    first = sent(send(team, "mgr", "one, while busy"))
    second = sent(send(team, "mgr", "two, while busy"))
    assert (first["status"], second["status"]) == ("queued", "queued")
    assert "busy" in first["detail"]
    assert agent_row(team, "mgr")["state"] == "busy"

    report = json.loads(team.ttal("report", "idle", "--agent", "mgr", "--json").stdout)
    assert report["delivered"] == 2
    out = tmp_path / "rec" / "mgr.hex"
    assert wait_body(out, second["id"]) == ["two, while busy"]
    lines = out.read_text().splitlines()
    first_at = lines.index(f"[ttal #{first['id']} from human]".encode().hex())
    assert first_at < lines.index(f"[ttal #{second['id']} from human]".encode().hex())


def test_resends_are_dropped(team: Box) -> None:
    first = sent(send(team, "mgr", "same words"))
    again = sent(send(team, "mgr", "same words"))
    assert first["status"] == "queued" and again == {**again, "id": 0, "status": "duplicate"}
    keyed = [sent(send(team, "mgr", f"attempt {n}", "--key", "K1")) for n in (1, 2)]
    assert [k["status"] for k in keyed] == ["queued", "duplicate"]
    other = sent(send(team, "boss", "same words"))  # another recipient: another message
    # A key is its sender's, per recipient: nobody else's K1 drops these.
    to_boss = sent(send(team, "boss", "attempt 1", "--key", "K1"))
    as_mgr = {"TTAL_AGENT": "mgr", "TTAL_ROLE": "manager"}
    from_mgr = sent(send(team, "boss", "from mgr", "--key", "K1", env=as_mgr))
    assert [r["status"] for r in (other, to_boss, from_mgr)] == ["queued"] * 3
    assert messages(team) == [
        ("human", "mgr", "same words"), ("human", "mgr", "attempt 1"),
        ("human", "boss", "same words"), ("human", "boss", "attempt 1"),
        ("mgr", "boss", "from mgr"),
    ]  # fmt: skip


def test_refusals_write_nothing(team: Box) -> None:
    uuid = team.add("refusals", "project:api")
    team.ttal("go", uuid, check=True)  # a person spawns it: the spawner is human
    worker = by_hand.worker_env(uuid)
    cases = {
        "worker to a manager that is not its spawner": (
            send(team, "mgr", "hi boss", env=worker), 13, "ttal alert"),
        "unknown recipient": (send(team, "nobody", "hello?"), 11, "unknown recipient"),
        "empty body": (send(team, "mgr", "  \n "), 12, "empty"),
        "alert from a person": (team.ttal("alert", "help"), 13, "workers"),
        "a template, not a running agent": (send(team, "coder", "hi"), 11, "template"),
    }  # fmt: skip
    wrong = {
        name: (proc.returncode, proc.stderr)
        for name, (proc, code, words) in cases.items()
        if proc.returncode != code
        or not proc.stderr.startswith("ttal: ")
        or words not in proc.stderr
    }
    assert not wrong, wrong
    assert messages(team) == []


def test_alert_to_a_human_spawner_lands_in_the_inbox_and_notifies(
    team: Box, tmp_path: Path
) -> None:
    uuid = team.add("alerting", "project:api")
    team.ttal("go", uuid, check=True)
    proc = team.ttal("alert", "I am stuck on the schema", env=by_hand.worker_env(uuid))
    assert proc.returncode == 0, proc.stderr
    got = inbox(team, "human")
    assert [(m["from"], m["body"], m["status"]) for m in got] == [
        (f"w-{uuid[:8]}", "I am stuck on the schema", "unread")
    ]
    assert [m["status"] for m in inbox(team, "human")] == ["read"]  # a person has now seen it
    notified = tmp_path / "notified.txt"
    text = wait_for(lambda: notified.exists() and notified.read_text(), 10, "notify")
    assert text == f"[ttal] from w-{uuid[:8]}: I am stuck on the schema"
    assert any("alert from" in a for a in by_hand.annotations(team, uuid))


def test_alert_from_a_managers_worker_reaches_its_pane(team: Box, tmp_path: Path) -> None:
    up(team, "mgr")
    uuid = team.add("delegated", "project:api")
    team.ttal("go", uuid, env={"TTAL_AGENT": "mgr", "TTAL_ROLE": "manager"}, check=True)
    assert team.get(uuid)["ttal_spawner"] == "mgr"
    worker = by_hand.worker_env(uuid)
    proc = team.ttal("alert", "--json", "need a decision: A or B?", env=worker)
    result = json.loads(proc.stdout)
    assert result["status"] == "delivered", proc.stderr
    out = tmp_path / "rec" / "mgr.hex"
    assert wait_body(out, result["id"]) == ["need a decision: A or B?"]
    header = f"[ttal #{result['id']} from w-{uuid[:8]} re task {uuid[:8]}]"
    assert header.encode().hex() in out.read_text().splitlines()
    refused = send(team, "boss", "psst", env=worker)  # the hierarchy: not sideways
    assert refused.returncode == 13 and "ttal alert" in refused.stderr
    assert sent(send(team, "mgr", "to my spawner", env=worker))["status"] == "delivered"


def _stop_recipient(box: Box, name: str) -> int:
    """Freeze the recipient's program (SIGSTOP): what is typed now stays unread in the
    terminal. Not the pane's shell: tmux continues a pane process it sees stopped."""
    shell = box_tmux(box, "display-message", "-p", "-t", f"={name}:", "#{pane_pid}")
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    [program] = [int(pid) for pid in children]
    os.kill(program, signal.SIGSTOP)
    return program


def _kill_session(box: Box, name: str, program: int = 0) -> None:
    box_tmux(box, "kill-session", "-t", f"={name}")
    if program:
        with contextlib.suppress(ProcessLookupError):
            os.kill(program, signal.SIGKILL)


def box_tmux(box: Box, *args: str) -> str:
    proc = subprocess.run(["tmux", "-L", box.sb.socket, *args], env=box.env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return proc.stdout.strip()


def _records(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def acking(make_box: Callable[..., Box], tmp_path: Path) -> Box:
    box = recorder_box(make_box, tmp_path / "rec", ["mgr"], acks=True)
    up(box, "mgr")
    return box


def test_typed_into_a_pane_that_died_unread_is_typed_again(acking: Box, tmp_path: Path) -> None:
    program = _stop_recipient(acking, "mgr")
    result = sent(send(acking, "mgr", "lost with the pane"))
    assert result["status"] == "delivered"  # typed in, but its program never read it
    _kill_session(acking, "mgr", program)
    [message] = inbox(acking, "mgr")
    assert (message["delivered"], message["acked"]) == (True, False)

    up(acking, "mgr")
    msgs = tmp_path / "rec" / "mgr.msgs"
    wait_for(lambda: f"MSG {result['id']}" in _records(msgs), 20, "the message typed again")
    assert wait_body(tmp_path / "rec" / "mgr.hex", result["id"]) == ["lost with the pane"]
    assert _records(msgs) == [f"MSG {result['id']}"]
    assert by_hand.events(acking, "requeued") == [f"mgr: [{result['id']}]"]
    assert inbox(acking, "mgr")[0]["acked"] is True


def test_read_but_not_acknowledged_is_dropped_by_the_recipient(acking: Box, tmp_path: Path) -> None:
    msgs = tmp_path / "rec" / "mgr.msgs"
    result = sent(send(acking, "mgr", "read, then the crash"))
    wait_for(lambda: inbox(acking, "mgr")[0]["acked"], 20, "the ack")
    # The recipient was killed after recording the message and before its ack landed:
    by_hand_sql(acking, "UPDATE messages SET acked_ts = NULL WHERE id = ?", result["id"])
    _kill_session(acking, "mgr")
    up(acking, "mgr")
    wait_for(lambda: f"DUP {result['id']}" in _records(msgs), 20, "the re-sent copy")
    assert _records(msgs) == [f"MSG {result['id']}", f"DUP {result['id']}"]


def test_a_recipient_that_never_acks_is_not_flooded_on_restart(team: Box, tmp_path: Path) -> None:
    up(team, "mgr")
    result = sent(send(team, "mgr", "typed once"))
    wait_body(tmp_path / "rec" / "mgr.hex", result["id"])
    team.ttal("down", "mgr", check=True)
    assert up(team, "mgr")[0]["delivered"] == 0


def test_ack_from_the_cli(team: Box) -> None:
    first = sent(send(team, "mgr", "first"))["id"]
    second = sent(send(team, "mgr", "second"))["id"]
    as_mgr = {"TTAL_AGENT": "mgr", "TTAL_ROLE": "manager"}
    proc = team.ttal("ack", f"#{first}", "--json", env=as_mgr, check=True)
    assert json.loads(proc.stdout) == {"agent": "mgr", "acked": [first], "new": 1}
    prompt = f"[ttal #{second} from human]\nsecond\n[reply with: ...]\n"
    proc = subprocess.run([sys.executable, "-m", "ttal", "ack", "-", "--json"], input=prompt,
                          env={**team.env, **as_mgr}, capture_output=True, text=True)  # fmt: skip
    assert json.loads(proc.stdout)["acked"] == [second]
    assert [m["acked"] for m in inbox(team, "mgr")] == [True, True]
    assert team.ttal("ack", "1").returncode == 2  # a person must say whose


def by_hand_sql(box: Box, sql: str, *args: Any) -> None:
    db = sqlite3.connect(box.sb.state_dir / "ttal.db", timeout=30)
    try:
        with db:
            db.execute(sql, args)
    finally:
        db.close()


def test_unread_is_not_hidden_by_the_limit(team: Box) -> None:
    as_mgr = {"TTAL_AGENT": "mgr", "TTAL_ROLE": "manager"}
    older, newer = (sent(send(team, "human", b, env=as_mgr))["id"] for b in ("older", "newer"))
    team.ttal("inbox", "human", "--limit", "1", check=True)  # a person reads the newest
    proc = team.ttal("inbox", "human", "--unread", "--limit", "1", "--json", check=True)
    assert [m["id"] for m in json.loads(proc.stdout)["messages"]] == [older]
    assert [m["status"] for m in inbox(team, "human")] == ["read", "read"]
    assert newer > older


def test_nothing_is_typed_while_a_manager_starts(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """A program that drops typed-ahead input as it starts (a TUI entering raw mode) must
    not lose what a sender typed during `ttal up`: deliveries wait until it is ready."""
    box = recorder_box(make_box, tmp_path / "rec", ["mgr"], recorder_args="--slow-start 2")
    starting = subprocess.Popen([sys.executable, "-m", "ttal", "up", "mgr", "--json"],
                                env=box.env, stdout=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(lambda: "mgr" in box.sessions(), 10, "the session")
    result = sent(send(box, "mgr", "typed during start-up"))
    assert (result["status"], result["detail"]) == (
        "queued",
        "mgr is starting; delivered when it is ready",
    )
    out, _ = starting.communicate(timeout=30)
    assert json.loads(out)[0]["delivered"] == 1
    assert wait_body(tmp_path / "rec" / "mgr.hex", result["id"]) == ["typed during start-up"]


def test_the_inbox_shows_acked_for_what_the_agent_acknowledged(acking: Box) -> None:
    """Text once said `delivered` for it; only --json had `acked` (issue 10)."""
    sent(send(acking, "mgr", "typed in and read"))
    wait_for(lambda: inbox(acking, "mgr")[0]["acked"], 20, "the ack")
    assert inbox(acking, "mgr")[0]["status"] == "delivered"  # --json: unchanged, acked beside
    text = acking.ttal("inbox", "mgr", check=True).stdout
    [line] = [line for line in text.splitlines() if "typed in and read" in line]
    assert "acked" in line.split() and "delivered" not in line, text
