"""Nothing from outside reaches tmux as a format (issue 15, item 5).

tmux 3.3a expands formats in `new-session -c` (the session's directory) and `-s` (its name),
and in run-shell's command: `#W` in a `worktree_root` made a worker start in the caller's
directory (the base checkout) and commit onto the base unreviewed, and `#(cmd)` in a path
ran cmd. Each case here puts `#W`, `#(touch MARKER)` or `#{pane_id}` in `worktree_root`, in
`state_dir` or in a `ttal_worktree` set with `task add`, runs `ttal go` from the base
checkout, and checks: no MARKER, the worker's pane runs in its own worktree (or the spawn is
refused, for a preset path outside the root), and nothing reached the base branch.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import libtmux
import pytest

from tests.conftest import Box, wait_for
from ttal.adapters.tmux import Tmux
from ttal.errors import Exit

# A worker that commits where it was started, and waits.
WORKER = """\
cases:
  - steps:
      - write: {path: "notes/{short}.md", text: "# {description}\\n"}
      - sh: "git add -A && git commit -qm 'work ({short})'"
      - idle: true
"""

HOSTILE = {"W": "#W", "job": "#(touch {marker})", "pane-id": "#{{pane_id}}"}


def hostile(kind: str, marker: Path) -> str:
    return HOSTILE[kind].format(marker=marker)


@pytest.fixture
def worker_box(make_box: Callable[..., Box], tmp_path: Path) -> Box:
    script = tmp_path / "worker.yaml"
    script.write_text(WORKER, encoding="utf-8")
    return make_box(worker_script=script)


def set_paths(box: Box, state_dir: str | None = None, worktree_root: str | None = None) -> None:
    """Rewrite the sandbox's state_dir and worktree_root (None for worktree_root: its
    default, under state_dir); then `ttal doctor --fix` again for the new state_dir."""
    lines = []
    for line in box.sb.config.read_text(encoding="utf-8").splitlines():
        if line.startswith("state_dir:") and state_dir is not None:
            line = f"state_dir: {json.dumps(state_dir)}"
        elif line.startswith("worktree_root:"):
            if worktree_root is None and state_dir is not None:
                continue
            if worktree_root is not None:
                line = f"worktree_root: {json.dumps(worktree_root)}"
        lines.append(line)
    box.sb.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if state_dir is not None:  # as on a fresh machine: doctor declares the UDAs there
        box.sb.taskrc.write_text(f"data.location={box.sb.task_data}\n", encoding="utf-8")
    box.ttal("doctor", "--fix", check=True)


def go_from_base(box: Box, uuid: str) -> subprocess.CompletedProcess[str]:
    """`ttal go` run the way the issue found it: from the project's base checkout."""
    return subprocess.run(
        [sys.executable, "-m", "ttal", "go", uuid], env=box.env, cwd=box.sb.repos["api"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def pane_path(box: Box, session: str) -> str:
    proc = subprocess.run(["tmux", "-L", box.sb.socket, "display-message", "-p", "-t",
                           f"={session}:", "#{pane_current_path}"],
                          capture_output=True, text=True)  # fmt: skip
    return proc.stdout.strip() if proc.returncode == 0 else ""


def markers(tmp_path: Path) -> list[Path]:
    """Any MARKER a `#(touch ...)` made: the absolute one, or a relative one anywhere here."""
    return [p for p in tmp_path.rglob("MARKER")]


def assert_worker_in_its_worktree(box: Box, uuid: str, base_tip: str, tmp_path: Path) -> None:
    """The worker committed on its branch in its own worktree; the base did not move."""
    repo = box.sb.repos["api"]

    def settled() -> bool:
        task = box.get(uuid)
        branch = task.get("ttal_branch", "")
        moved = box.git("api", "rev-parse", "main").strip() != base_tip
        ahead = branch and box.git("api", "rev-list", "--count", f"main..{branch}").strip()
        return moved or ahead not in ("", "0")

    wait_for(settled, timeout=30, what="the worker's commit (on its branch or on main)")
    task = box.get(uuid)
    worktree = task["ttal_worktree"]
    assert box.git("api", "rev-parse", "main").strip() == base_tip, "the worker committed on main"
    assert box.git("api", "status", "--porcelain").strip() == "", "the base checkout changed"
    assert Path(worktree, "notes", f"{uuid[:8]}.md").is_file()
    assert os.path.realpath(worktree) != os.path.realpath(repo)
    shown = wait_for(lambda: pane_path(box, f"w-{uuid[:8]}"), what="the worker's directory")
    assert shown == os.path.realpath(worktree)
    assert not markers(tmp_path), "a #(...) in a path ran"


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_worktree_root_is_taken_literally(worker_box: Box, tmp_path: Path, kind: str) -> None:
    root = f"{worker_box.sb.root}/wt{hostile(kind, tmp_path / 'MARKER')}x"
    set_paths(worker_box, worktree_root=root)
    base_tip = worker_box.git("api", "rev-parse", "main").strip()
    uuid = worker_box.add("Hostile root", "project:api")
    proc = go_from_base(worker_box, uuid)
    assert proc.returncode == 0, proc.stderr
    assert_worker_in_its_worktree(worker_box, uuid, base_tip, tmp_path)
    assert worker_box.get(uuid)["ttal_worktree"].startswith(root + "/api/")


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_state_dir_is_taken_literally(worker_box: Box, tmp_path: Path, kind: str) -> None:
    """worktree_root defaults to <state_dir>/worktrees; run files live in <state_dir>/run."""
    state = f"{worker_box.sb.root}/st{hostile(kind, tmp_path / 'MARKER')}x"
    set_paths(worker_box, state_dir=state)
    base_tip = worker_box.git("api", "rev-parse", "main").strip()
    uuid = worker_box.add("Hostile state", "project:api")
    proc = go_from_base(worker_box, uuid)
    assert proc.returncode == 0, proc.stderr
    assert_worker_in_its_worktree(worker_box, uuid, base_tip, tmp_path)
    assert worker_box.get(uuid)["ttal_worktree"].startswith(state + "/worktrees/api/")
    assert Path(state, "run", f"w-{uuid[:8]}.prompt.md").is_file()


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_preset_worktree_inside_the_root_is_taken_literally(
    worker_box: Box, tmp_path: Path, kind: str
) -> None:
    preset = f"{worker_box.sb.root}/worktrees/api/x{hostile(kind, tmp_path / 'MARKER')}y"
    base_tip = worker_box.git("api", "rev-parse", "main").strip()
    uuid = worker_box.add("Preset worktree", "project:api", f"ttal_worktree:{preset}")
    proc = go_from_base(worker_box, uuid)
    assert proc.returncode == 0, proc.stderr
    assert worker_box.get(uuid)["ttal_worktree"] == preset
    assert_worker_in_its_worktree(worker_box, uuid, base_tip, tmp_path)


def outside_paths(box: Box, tmp_path: Path) -> dict[str, str]:
    marker = tmp_path / "MARKER"
    repo = str(box.sb.repos["api"])
    escape = box.sb.root / "worktrees" / "api" / "link"
    escape.parent.mkdir(parents=True, exist_ok=True)
    escape.symlink_to(box.sb.repos["api"])
    return {
        "W-outside": f"{tmp_path}/elsewhere#W",
        "job-outside": f"{tmp_path}/elsewhere#(touch {marker})",
        "pane-id-outside": f"{tmp_path}/elsewhere#{{pane_id}}",
        "the-base-checkout": repo,
        "dot-dot": f"{box.sb.root}/worktrees/api/../../repos/api",
        "relative": "worktrees/api/x",
        "other-project": f"{box.sb.root}/worktrees/web/x",
        "the-root-itself": f"{box.sb.root}/worktrees/api",
        "symlink-out": str(escape),
    }


OUTSIDE = ["W-outside", "job-outside", "pane-id-outside", "the-base-checkout", "dot-dot",
           "relative", "other-project", "the-root-itself", "symlink-out"]  # fmt: skip


@pytest.mark.parametrize("case", OUTSIDE)
def test_preset_worktree_outside_the_root_is_refused(
    worker_box: Box, tmp_path: Path, case: str
) -> None:
    preset = outside_paths(worker_box, tmp_path)[case]
    base_tip = worker_box.git("api", "rev-parse", "main").strip()
    uuid = worker_box.add("Preset outside", "project:api", f"ttal_worktree:{preset}")
    proc = go_from_base(worker_box, uuid)
    assert proc.returncode == Exit.PRECONDITION, (proc.stdout, proc.stderr)
    assert "ttal_worktree" in proc.stderr and "nothing was" in proc.stderr, proc.stderr
    assert "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert worker_box.sessions() == []
    assert worker_box.git("api", "rev-parse", "main").strip() == base_tip
    assert worker_box.git("api", "worktree", "list").count("\n") == 1
    task = worker_box.get(uuid)
    assert "start" not in task and not task.get("ttal_session")
    assert not markers(tmp_path)


BAD_BRANCHES = {
    "base": "main",
    "not-ttal": "feature/x",
    "dash": "-x",
    "option": "--upload-pack=touch",
    "dot-dot": "ttal/a..b",
    "escape": "ttal/../../x",
    "lock": "ttal/x.lock",
    "at-brace": "ttal/a@{1}",
    "colon": "ttal/a:b",
    "hash-W": "ttal/a#W",
    "trailing-slash": "ttal/x/",
}


@pytest.mark.parametrize("case", list(BAD_BRANCHES))
def test_preset_branch_that_is_not_a_ttal_branch_is_refused(worker_box: Box, case: str) -> None:
    base_tip = worker_box.git("api", "rev-parse", "main").strip()
    branches = worker_box.git("api", "branch", "--list")
    uuid = worker_box.add("Preset branch", "project:api", f"ttal_branch:{BAD_BRANCHES[case]}")
    proc = go_from_base(worker_box, uuid)
    assert proc.returncode == Exit.PRECONDITION, (proc.stdout, proc.stderr)
    assert "ttal_branch" in proc.stderr and "hint:" in proc.stderr, proc.stderr
    assert worker_box.sessions() == []
    assert worker_box.git("api", "rev-parse", "main").strip() == base_tip
    assert worker_box.git("api", "branch", "--list") == branches


def test_valid_branch_agrees_with_git() -> None:
    """The pure check (no git call on `ttal go`) says yes only where git does too."""
    from ttal.core.refs import valid_branch

    names = [*BAD_BRANCHES.values(), "ttal/abc12345-fix-it", "ttal/a/b", "ttal/a.b", "ttal/",
             "ttal/.x", "ttal/x.", "ttal/a b", "ttal/a\\b", "ttal/a~1", "ttal/a^", "ttal/a?",
             "ttal/a*", "ttal/a[", "ttal/a\x7f", "ttal/a\tb", "ttal/@", "ttal//a", "ttal/a//b",
             "ttal/a/.b", "ttal/é", "ttal/a@b", "ttal/a.lock/b", "ttal/-x"]  # fmt: skip
    for name in names:
        git_says = subprocess.run(["git", "check-ref-format", "--branch", name],
                                  capture_output=True).returncode == 0  # fmt: skip
        if valid_branch(name):
            assert git_says, name
    assert valid_branch("ttal/abc12345-fix-it") and valid_branch("ttal/a/b")


@pytest.fixture
def server(TestServer: type[libtmux.Server]) -> Tmux:
    """A throwaway tmux server (libtmux's plugin kills it at teardown), with one session."""
    socket = TestServer().socket_name
    assert socket
    tmux = Tmux(socket)
    tmux.new_session("keep", Path("/"), {}, "sleep 60")
    return tmux


PATHS = [
    "#W",
    "#(touch MARKER)",
    "#{pane_id}",
    "##",
    "#",
    "a#",
    "#[fg=red]",
    "##[x",
    "%H#,#}",
    "#{l:#W}",
    "#{?#{==:1,1},a,b}",
    "#{E:status-left}",
]


@pytest.mark.parametrize("name", PATHS)
def test_literal_round_trips_through_tmux(server: Tmux, tmp_path: Path, name: str) -> None:
    """What the adapter passes as -c and -s is what tmux uses, byte for byte."""
    from ttal.adapters.tmux import literal

    text = name.replace("MARKER", str(tmp_path / "MARKER"))
    directory = tmp_path / f"d{text}e"
    directory.mkdir(parents=True)
    session = f"s{text}t".replace(".", "_").replace(":", "_")  # tmux's own rule for names
    server.new_session(session, directory, {}, "sleep 30")
    listed = server.call("list-sessions", "-F", "#{session_name}").out.splitlines()
    assert session in listed
    assert server.has(session)
    # Empty for a moment while the pane's shell starts its command: poll.
    where = ("display-message", "-p", "-t", f"={session}:", "#{pane_current_path}")
    shown = wait_for(lambda: server.call(*where).out.strip(), what="the pane's directory")
    assert shown == str(directory.resolve())
    out = tmp_path / "out"  # run-shell's command is a format too (warm/read_only.py)
    ran = server.call("run-shell", literal(shlex.join(["printf", "%s", f"x{text}y"]) + f" > {out}"))
    assert ran.ok, ran.err
    assert out.read_text(encoding="utf-8") == f"x{text}y"
    assert not markers(tmp_path)


def test_a_worktree_ttal_made_stays_usable_after_worktree_root_moves(
    worker_box: Box, tmp_path: Path
) -> None:
    """ "Inside the root, or exactly what ttal itself recorded": ttal's journal vouches for
    the worktree it made before a person moved worktree_root elsewhere."""
    base_tip = worker_box.git("api", "rev-parse", "main").strip()
    uuid = worker_box.add("Before the move", "project:api")
    assert go_from_base(worker_box, uuid).returncode == 0
    assert_worker_in_its_worktree(worker_box, uuid, base_tip, tmp_path)
    set_paths(worker_box, worktree_root=str(worker_box.sb.root / "moved"))
    proc = go_from_base(worker_box, uuid)
    assert proc.returncode in (Exit.OK, Exit.WAITING), proc.stderr
    assert "is working" in proc.stdout, proc.stdout
    # The same path set by hand on another task is not ttal's: refused.
    other = worker_box.add("Borrowed", "project:api",
                           f"ttal_worktree:{worker_box.get(uuid)['ttal_worktree']}")  # fmt: skip
    proc = go_from_base(worker_box, other)
    assert proc.returncode == Exit.PRECONDITION and "not inside" in proc.stderr, proc.stderr


def test_a_worktree_repointed_during_review_is_refused_not_removed(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """A person points a task under review at their own worktree (clean, at the reviewed
    commit): the verdict and `ttal go` refuse, and the merge's cleanup never removes it."""
    from tests.by_hand import reviewer_env
    from tests.test_review_read_only import in_review

    box, uuid, head = in_review(make_box, tmp_path)
    mine = tmp_path / "mine"
    box.git("api", "worktree", "add", "-q", "--detach", str(mine), head)
    exclude = box.sb.repos["api"] / ".git" / "info" / "exclude"
    exclude.write_text(".env\n", encoding="utf-8")
    (mine / ".env").write_text("SECRET=1\n", encoding="utf-8")  # ignored: it dies with it
    box.task(uuid, "modify", f"ttal_worktree:{mine}")
    approve = box.ttal("review", "approve", "--note", "fine", env=reviewer_env(uuid))
    go = box.ttal("go", uuid)
    assert approve.returncode == Exit.PRECONDITION, (approve.stdout, approve.stderr)
    assert go.returncode == Exit.PRECONDITION and "ttal_worktree" in go.stderr, go.stderr
    assert "lgtm" not in box.get(uuid).get("tags", [])
    assert (mine / ".env").is_file() and str(mine) in box.git("api", "worktree", "list")
