"""Shell completion as the shell asks for it: bash and zsh run `ttal` with _TTAL_COMPLETE and
the words typed so far (what `ttal --install-completion` sets up), and show what it prints."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.conftest import Box


def complete(box: Box, shell: str, words: str) -> list[str]:
    env = {**box.env, "_TTAL_COMPLETE": f"complete_{shell}", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split(" ")) - 1), "_TYPER_COMPLETE_ARGS": words}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "ttal"], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing but candidates reaches the prompt
    return [line for line in proc.stdout.splitlines() if line]


def test_task_ids_agents_and_sessions_complete(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Write the notes", "project:web")
    box.ttal("go", uuid, check=True)
    task_id, session = str(box.get(uuid)["id"]), f"w-{uuid[:8]}"

    assert task_id in complete(box, "bash", "ttal go ")
    assert session in complete(box, "bash", "ttal attach w-")
    assert complete(box, "bash", "ttal attach zz") == []
    recipients = complete(box, "bash", "ttal send --to ")
    assert session in recipients and "human" in recipients
    # zsh gets each candidate with its description: `"1":"Write the notes"`.
    zsh = "\n".join(complete(box, "zsh", "ttal go "))
    assert f'"{task_id}":"Write the notes"' in zsh, zsh


def test_completion_is_quiet_without_a_config(box: Box, tmp_path: Path) -> None:
    box.env["TTAL_CONFIG"] = str(tmp_path / "missing.yaml")
    assert complete(box, "bash", "ttal go ") == []


def test_the_shell_script_names_ttal(box: Box) -> None:
    proc = box.ttal("--show-completion", "bash", check=True)
    assert "_TTAL_COMPLETE" in proc.stdout
