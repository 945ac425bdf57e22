"""ttal merges while a person works in the base checkout (issue 15, item 2).

A person committing there during a merge once made ttal move the base, fail to update the
checkout (the person's `git commit` held the index), close the intent as "not done", and
let the person's next commit revert the merge from a stale index; the next `ttal go` found
the branch an ancestor of main and said "merged". Here a person commits every 30 ms during
several merges, and the checkout is left mid-rebase, mid-merge, dirty or locked: each merge
is refused or lands whole, and nothing says "merged" for work that is not on main.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import by_hand
from tests.by_hand import commit, reviewer_env, worker_env
from tests.conftest import Box, wait_for
from tests.test_crash import continuations
from ttal.adapters.sandbox import GIT_ENV

SOAK = os.environ.get("TTAL_SOAK") == "1"


def git(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git as the person at the keyboard: failures are theirs to see, not the test's."""
    return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})  # fmt: skip


class Person(threading.Thread):
    """Commits a file of their own in the base checkout every 30 ms. A command git refuses
    (ttal holds the index, or HEAD moved under the commit) is simply tried again next tick."""

    def __init__(self, checkout: Path) -> None:
        super().__init__(daemon=True)
        self.checkout, self.stop, self.commits = checkout, threading.Event(), 0

    def run(self) -> None:
        n = 0
        while not self.stop.wait(0.03):
            n += 1
            name = f"person-{n}.txt"
            (self.checkout / name).write_text(f"{n}\n", encoding="utf-8")
            git(self.checkout, "add", name)
            if git(self.checkout, "commit", "-qm", f"Person's note {n}").returncode == 0:
                self.commits += 1

    def done(self) -> None:
        self.stop.set()
        self.join(timeout=10)
        git(self.checkout, "add", "-A")
        git(self.checkout, "commit", "-qm", "Person's last notes")  # "nothing to commit" is fine


@contextmanager
def person_at(checkout: Path) -> Iterator[Person]:
    person = Person(checkout)
    person.start()
    try:
        yield person
    finally:
        person.done()


def to_review(box: Box, description: str, name: str) -> str:
    """A task of project web whose worker committed `name`, now with its review lead."""
    uuid = box.add(description, "project:web")
    box.ttal("go", uuid, check=True)
    commit(box, uuid, name, f"{description}\n", description)
    box.ttal("go", env=worker_env(uuid), check=True)
    return uuid


def on_main(box: Box, name: str) -> bool:
    return name in box.git("web", "ls-tree", "--name-only", "main").split()


def merged_messages(box: Box) -> list[str]:
    sql = "SELECT task FROM messages WHERE body LIKE '%merged into%'"
    return [r[0] for r in by_hand.rows(box, sql)]


def moved_base_skipped(box: Box) -> list[str]:
    """Merge intents closed as "skipped" although the base holds their merge commit (and
    no later attempt, which may make the very same commit, recorded it as done)."""
    rows = by_hand.rows(box, "SELECT id, state, detail, note FROM intents WHERE action = 'merge'")
    done = {json.loads(detail).get("new") for _, state, detail, _ in rows if state == "done"}
    found = []
    for intent_id, state, detail, note in rows:
        new = json.loads(detail).get("new", "")
        if state != "skipped" or not new or new in done:
            continue
        if git(box.sb.repos["web"], "merge-base", "--is-ancestor", new, "main").returncode == 0:
            found.append(f"#{intent_id}: {note}")
    return found


def settle(box: Box, uuids: list[str], until: float) -> None:
    """Run `ttal go` on each task until all are completed (as a person would) or time is up."""
    while time.monotonic() < until:
        wait_for(lambda: not any(continuations(u) for u in uuids), timeout=60, what="go to end")
        pending = [u for u in uuids if box.get(u)["status"] != "completed"]
        if not pending:
            return
        for uuid in pending:
            box.ttal("go", uuid)


def assert_nothing_said_merged_that_is_not(box: Box, files: dict[str, str]) -> None:
    for uuid, name in files.items():
        task = box.get(uuid)
        if "merged" in task.get("tags", []) or uuid in merged_messages(box):
            assert on_main(box, name), f"{name} said merged but is not on main: {task}"
    assert moved_base_skipped(box) == [], "a moved base was recorded as not done"


@pytest.mark.parametrize("rounds", [12 if SOAK else 4], ids=["person-commits-every-30ms"])
def test_person_commits_in_base_checkout_during_merges(
    make_box: Callable[..., Box], tmp_path: Path, rounds: int
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    checkout = box.sb.repos["web"]
    files = {to_review(box, f"Write note {i}", f"note-{i}.md"): f"note-{i}.md"
             for i in range(rounds)}  # fmt: skip
    with person_at(checkout) as person:
        for uuid in files:
            box.ttal("review", "approve", env=reviewer_env(uuid), check=True)
        settle(box, list(files), time.monotonic() + (120 if SOAK else 40))
    assert person.commits > 0, "the person never got a commit in"
    assert_nothing_said_merged_that_is_not(box, files)
    for uuid, name in files.items():
        assert on_main(box, name), f"{name} is missing from main's tree"
        assert box.get(uuid)["status"] == "completed"
    assert git(checkout, "status", "--porcelain", "--untracked-files=no").stdout == ""


def _side_branch(checkout: Path) -> None:
    """A branch `side` whose README differs from main's, and a main whose README differs
    from the one `side` started from."""
    git(checkout, "branch", "side")
    git(checkout, "checkout", "-q", "side")
    (checkout / "README.md").write_text("# web, side\n", encoding="utf-8")
    git(checkout, "commit", "-qam", "Side README")
    git(checkout, "checkout", "-q", "main")


def _rebasing(checkout: Path) -> None:
    _side_branch(checkout)
    (checkout / "README.md").write_text("# web, main\n", encoding="utf-8")
    git(checkout, "commit", "-qam", "Main README")
    assert git(checkout, "rebase", "side").returncode != 0  # stops on the README conflict


def _merging(checkout: Path) -> None:
    _side_branch(checkout)
    assert git(checkout, "merge", "--no-ff", "--no-commit", "side").returncode == 0


def _staged(checkout: Path) -> None:
    (checkout / "README.md").write_text("# web, staged\n", encoding="utf-8")
    git(checkout, "add", "README.md")


def _unstaged(checkout: Path) -> None:
    (checkout / "README.md").write_text("# web, edited\n", encoding="utf-8")


def _in_the_way(checkout: Path) -> None:
    (checkout / "note.md").write_text("the person's own note\n", encoding="utf-8")


def _git_running(checkout: Path) -> None:
    (checkout / ".git" / "index.lock").write_text("", encoding="utf-8")


def _commit_all(checkout: Path) -> None:
    git(checkout, "commit", "-qam", "The person's edit")


def _remove(name: str) -> Callable[[Path], None]:
    return lambda checkout: (checkout / name).unlink()


IN_USE = {  # how a person leaves the checkout, what ttal says, how the person ends it
    "rebase-in-progress": (_rebasing, "rebase", lambda c: git(c, "rebase", "--abort")),
    "merge-in-progress": (_merging, "merge is in progress", lambda c: git(c, "merge", "--abort")),
    "staged-changes": (_staged, "uncommitted changes (README.md", _commit_all),
    "unstaged-changes": (_unstaged, "uncommitted changes (README.md", _commit_all),
    "untracked-file-in-the-way": (_in_the_way, "cannot be updated", _remove("note.md")),
    "git-command-running": (_git_running, "a git command is running", _remove(".git/index.lock")),
}


def checkout_state(checkout: Path) -> dict[str, str]:
    """What a person sees of their checkout: HEAD, the index's entries, the files' changes."""
    return {"HEAD": git(checkout, "rev-parse", "HEAD").stdout,
            "index": git(checkout, "ls-files", "--stage").stdout,
            "status": git(checkout, "status", "--porcelain").stdout}  # fmt: skip


@pytest.mark.parametrize("case", list(IN_USE), ids=list(IN_USE))
def test_a_checkout_in_use_is_refused_then_merged(
    make_box: Callable[..., Box], tmp_path: Path, case: str
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    checkout = box.sb.repos["web"]
    uuid = to_review(box, "Write the note", "note.md")
    prepare, says, end = IN_USE[case]
    prepare(checkout)
    main, before = box.git("web", "rev-parse", "main"), checkout_state(checkout)
    box.ttal("review", "approve", env=reviewer_env(uuid), check=True)
    wait_for(lambda: not continuations(uuid), timeout=60, what="background go to end")
    proc = box.ttal("go", uuid)
    assert proc.returncode != 0 and says in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "nothing was merged" in proc.stdout + proc.stderr
    assert box.git("web", "rev-parse", "main") == main
    assert checkout_state(checkout) == before, "ttal changed the person's checkout"
    assert not list((checkout / ".git").glob("ttal-merge-index*"))
    assert "merged" not in box.get(uuid)["tags"] and merged_messages(box) == []
    assert moved_base_skipped(box) == []

    end(checkout)
    box.ttal("go", uuid, check=True)
    assert on_main(box, "note.md") and box.get(uuid)["status"] == "completed"
    assert git(checkout, "status", "--porcelain").stdout == ""
    assert_nothing_said_merged_that_is_not(box, {uuid: "note.md"})


def test_a_branch_on_main_whose_changes_were_taken_out_is_not_merged(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """An ancestor of main is not merged work when a later commit removed its changes."""
    box = by_hand.idle_box(make_box, tmp_path)
    checkout = box.sb.repos["web"]
    uuid = to_review(box, "Write the note", "note.md")
    branch = box.get(uuid)["ttal_branch"]
    assert git(checkout, "merge", "-q", "--no-ff", "-m", "Merge by hand", branch).returncode == 0
    assert git(checkout, "rm", "-q", "note.md").returncode == 0
    git(checkout, "commit", "-qm", "Drop the note")
    box.ttal("review", "approve", env=reviewer_env(uuid), check=True)
    wait_for(lambda: not continuations(uuid), timeout=60, what="background go to end")
    for _ in range(2):  # refused the same way each time; the spawner is told once
        proc = box.ttal("go", uuid)
        assert proc.returncode != 0, proc.stdout
        out = proc.stdout + proc.stderr
        assert "Drop the note" in out and "note.md" in out, out
    task = box.get(uuid)
    assert "merged" not in task["tags"] and task["status"] == "pending"
    assert merged_messages(box) == []
    told = by_hand.rows(box, "SELECT body FROM messages WHERE recipient = 'human' AND task = ?",
                        uuid)  # fmt: skip
    assert len(told) == 1 and "not merged" in told[0][0] and "cherry-pick" in told[0][0], told
    assert by_hand.worktree(box, uuid).is_dir() and box.git("web", "rev-parse", branch)

    git(checkout, "revert", "--no-edit", "HEAD")  # the person puts the note back
    proc = box.ttal("go", uuid, check=True)
    assert "was already on main" in proc.stdout
    assert box.get(uuid)["status"] == "completed" and on_main(box, "note.md")


@pytest.mark.parametrize("moved", [True, False], ids=["base-moved", "base-never-moved"])
def test_an_error_after_an_irreversible_step_began_is_unknown_until_looked_at(
    box: Box, moved: bool
) -> None:
    """An exception once counted as "nothing happened" even after the base had moved; now
    it is "unknown", and recovery decides from the world: done (bringing the checkout
    along) when the base holds the merge, skipped only when it never moved."""
    from ttal.config.load import load_config
    from ttal.core.pipeline import Caller
    from ttal.engine import journal
    from ttal.engine.app import App
    from ttal.engine.recovery import recover

    app, repo = App(load_config(box.sb.config), caller=Caller()), box.sb.repos["web"]
    git(repo, "checkout", "-qb", "side")
    (repo / "merged.md").write_text("merged\n", encoding="utf-8")
    git(repo, "add", "merged.md")
    git(repo, "commit", "-qm", "Side work")
    git(repo, "checkout", "-q", "main")
    old = box.git("web", "rev-parse", "main").strip()
    tree = box.git("web", "rev-parse", "side^{tree}").strip()
    new = box.git("web", "commit-tree", tree, "-p", old, "-p", "side", "-m", "Merge").strip()
    facts = {"repo": str(repo), "base": "main"}
    with pytest.raises(RuntimeError), journal.intent(app, "merge", "m", "", **facts) as intent:
        journal.update(app, intent, old=old, new=new, checkout=str(repo), begun=True)
        if moved:
            box.git("web", "update-ref", "refs/heads/main", new, old)
        raise RuntimeError("the checkout could not follow")
    state = by_hand.rows(box, "SELECT state FROM intents WHERE id = ?", intent)
    assert state == [("unknown",)]

    settled = recover(app)
    assert [(s["id"], s["state"]) for s in settled] == [(intent, "done" if moved else "skipped")]
    assert by_hand.rows(box, "SELECT state FROM intents WHERE id = ?", intent) == [
        (settled[0]["state"],)
    ]
    assert (repo / "merged.md").exists() == moved
    assert git(repo, "status", "--porcelain").stdout == ""  # index and files match HEAD
