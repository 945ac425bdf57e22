"""The hot paths (the Taskwarrior hook, `go`, `send`, `alert`, `report`, `status`, and the warm
server's preload) import neither GitPython, tasklib nor libtmux: `import git` costs ~145 ms,
libtmux ~100 ms, tasklib ~30 ms. The cold commands that use them (`gc`, `history`,
`attach --screen`) show that the check sees an import when there is one. Each command runs
for real, in-process in a fresh interpreter, which then lists what it loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests import by_hand
from tests.by_hand import commit, worker_env
from tests.conftest import Box, wait_for

HEAVY = ("git", "tasklib", "libtmux")
HOOK = Path(__file__).resolve().parent.parent / "hooks" / "ttal-hook.py"

# Runs `ttal ARGS...` as the console script does (ttal.main.main with sys.argv), or with
# --hook, the on-modify hook's Python half on two task JSON lines.
DRIVER = """
import io, json, runpy, sys
heavy = {heavy!r}
if sys.argv[1] == "--hook":
    sys.argv = ["ttal-hook.py", "modify"]
    sys.stdin = io.StringIO({task!r} + "\\n" + {task!r} + "\\n")
    run = lambda: runpy.run_path({hook!r}, run_name="__main__")
else:
    from ttal.main import main
    sys.argv = ["ttal", *sys.argv[1:]]
    run = main
try:
    code = run()
except SystemExit as stop:
    code = stop.code
sys.stdout.flush()
print("\\nLOADED " + json.dumps([m for m in heavy if m in sys.modules]))
"""


def loaded(box: Box, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Which of the heavy libraries `ttal ARGS` imported (it must succeed)."""
    task = json.dumps({"uuid": "0" * 36, "description": "x", "status": "pending"})
    code = DRIVER.format(heavy=HEAVY, task=task, hook=str(HOOK))
    proc = subprocess.run([sys.executable, "-c", code, *args], env={**box.env, **(env or {})},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0 and "\nLOADED " in proc.stdout, (args, proc.stdout, proc.stderr)
    found: list[str] = json.loads(proc.stdout.rsplit("\nLOADED ", 1)[1])
    return found


def test_hot_paths_import_none_of_the_heavy_libraries(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Stay lean", "project:api")
    worker = worker_env(uuid)
    assert loaded(box, "--hook") == []
    assert loaded(box, "go", uuid) == []  # spawn
    commit(box, uuid, "lean.txt", "lean\n")
    assert loaded(box, "go", env=worker) == []  # advance: +coded, the review lead spawned
    assert loaded(box, "report", "idle", env=worker) == []
    assert loaded(box, "send", "--to", "human", "a note for a person", env=worker) == []
    assert loaded(box, "alert", "a worry", env=worker) == []
    assert loaded(box, "status") == []
    preload = "from ttal.serve import preload; preload()\nimport sys\n"
    preload += f"print([m for m in {HEAVY!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", preload], env=box.env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert proc.stdout.strip() == "[]", "the warm server's children would carry them"

    # The check sees an import when there is one: the cold commands that use them.
    assert loaded(box, "gc", "--dry-run") == ["git"]
    assert loaded(box, "history") == ["git", "tasklib"]
    session = f"w-{uuid[:8]}"
    wait_for(lambda: session in box.sessions(), what="the worker's session")
    assert loaded(box, "attach", session, "--screen") == ["libtmux"]
