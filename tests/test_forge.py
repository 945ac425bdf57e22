"""Pull requests on GitHub with the real `gh`: against a scripted GitHub (tests/fake_github.py)
that records what gh sent, and a bare repository as the remote ttal really pushes to."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.by_hand import commit, events, reviewer_env, worker_env
from tests.conftest import Box, wait_for
from tests.forge_helpers import approved_task, forge_box, messages_to, needs_gh, watch
from ttal.adapters import sandbox
from ttal.core.forge import by_ttal, closed_text
from ttal.errors import Exit

pytestmark = needs_gh


def test_the_pr_opens_on_approval_and_waits_for_its_checks(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid, head = approved_task(box)

    assert hub.tip(f"ttal/{uuid[:8]}-add-jwt-auth") == head  # ttal pushed the approved commit
    [create] = hub.ops("PullRequestCreate")
    given = create.variables["input"]
    assert given["headRefName"] == f"ttal/{uuid[:8]}-add-jwt-auth"
    assert given["baseRefName"] == "main" and given["title"] == "Add JWT auth"
    assert uuid in given["body"] and "looks good" in given["body"] and head in given["body"]
    task = box.get(uuid)
    assert task["ttal_pr"] == hub.url(1)
    assert "merged" not in task["tags"] and "lgtm" in task["tags"]
    waiting = box.ttal("go", uuid)
    assert waiting.returncode == Exit.WAITING, waiting.stdout + waiting.stderr
    assert "waiting for checks (unit)" in waiting.stdout
    assert len(hub.ops("PullRequestCreate")) == 1 and not hub.ops("PullRequestMerge")


def test_a_failed_check_goes_to_the_worker_with_its_log_once_across_restarts(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid, head = approved_task(box)
    log = "collected 3 items\n" + "".join(f"noise {n}\n" for n in range(40))
    log += "E   assert verify(token) is True\nFAILED tests/test_jwt.py::test_verify - 1 failed\n"
    hub.check(head, "unit", "FAILURE", log=log)
    hub.check(head, "lint", "SUCCESS")

    rows = watch(box)
    worker = f"w-{uuid[:8]}"
    [told] = messages_to(box, worker)
    assert "failing job: unit" in told and head[:10] in told and hub.url(1) in told
    assert "FAILED tests/test_jwt.py::test_verify - 1 failed" in told
    assert "assert verify(token) is True" in told
    assert "collected 3 items" not in told  # only the last lines of the log
    assert "lint" not in told.split("failing job: unit")[1]
    assert any("checks failed" in " ".join(r["did"]) for r in rows), rows
    [run_view] = [r for r in hub.requests if r.path.endswith("/logs")]
    assert "actions/runs/" in run_view.path  # what `gh run view --log-failed` fetched

    watch(box)  # a new ttal process each time: a restart remembers what it sent
    box.ttal("go", uuid)
    assert messages_to(box, worker) == [told]
    assert len([r for r in hub.requests if r.path.endswith("/logs")]) == 1
    assert not hub.ops("PullRequestMerge")


def test_a_review_comment_and_requested_changes_go_to_the_worker_once(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid, _head = approved_task(box)
    hub.comment(1, "jwt.py", 1, "Name this constant TOKEN_TTL, please.")
    hub.review(1, "CHANGES_REQUESTED", "Tokens need an expiry.")
    hub.review(1, "APPROVED", "")  # nothing to say: nothing sent

    watch(box)
    watch(box)
    told = messages_to(box, f"w-{uuid[:8]}")
    assert len(told) == 2, told
    changes = next(t for t in told if "requested changes" in t)
    comment = next(t for t in told if "commented" in t)
    assert "carol requested changes on PR #1" in changes and "Tokens need an expiry." in changes
    assert "on jwt.py:1" in comment and "TOKEN_TTL" in comment

    hub.comment(1, "jwt.py", 1, "And a docstring.")
    watch(box)
    later = messages_to(box, f"w-{uuid[:8]}")
    assert len(later) == 3 and "And a docstring." in later[-1]
    assert any("/pulls/1/comments" in r.path for r in hub.requests)


def test_a_conversation_comment_goes_to_the_worker_once_not_ttals_own_nor_a_bots(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid, _head = approved_task(box)
    hub.page_limit = 2  # four comments: two pages, as gh asks for them
    hub.talk(1, "Please also handle expired tokens.", user="dave")
    hub.talk(1, closed_text(uuid[:8], "Add JWT auth"), user="person")  # what ttal writes
    hub.talk(1, "Coverage: 91% (+2%)", user="codecov[bot]", bot=True)
    hub.talk(1, "And log each refusal.", user="erin")

    watch(box)
    worker = f"w-{uuid[:8]}"
    told = messages_to(box, worker)
    assert len(told) == 2, told
    assert "dave commented on PR #1:\nPlease also handle expired tokens." in told[0]
    assert "erin commented on PR #1:\nAnd log each refusal." in told[1]  # from the 2nd page
    pages = [r.path for r in hub.ops("/issues/1/comments")]
    assert any("page=2" in p for p in pages), pages

    watch(box)  # new ttal processes: a restart neither drops nor repeats one
    box.ttal("go", uuid)
    assert messages_to(box, worker) == told
    hub.talk(1, "Thanks!", user="dave")
    watch(box)
    assert len(messages_to(box, worker)) == 3 and "Thanks!" in messages_to(box, worker)[-1]


def test_a_second_round_rewrites_the_branch_and_pushes_to_the_same_pr(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid, head = approved_task(box)
    hub.check(head, "unit", "FAILURE", log="FAILED test_jwt")
    watch(box)

    # The worker amends its commit (a rewrite), and the review lead approves round 2.
    tree = Path(box.get(uuid)["ttal_worktree"])
    (tree / "jwt.py").write_text("TOKEN = 2\n", encoding="utf-8")
    sandbox.git(tree, "commit", "-qa", "--amend", "--no-edit")
    second = sandbox.git(tree, "rev-parse", "HEAD").strip()
    box.ttal("go", env=worker_env(uuid), check=True)
    box.ttal("review", "approve", "--note", "fixed", env=reviewer_env(uuid), check=True)
    branch = box.get(uuid)["ttal_branch"]
    wait_for(lambda: len(events(box, "forge-pushed", uuid)) == 2, 30, "the second push")
    assert hub.tip(branch) == second

    assert len(hub.ops("PullRequestCreate")) == 1 and len(hub.prs) == 1
    assert hub.prs[1].head == branch and hub.prs[1].state == "OPEN"
    pushes = events(box, "forge-pushed", uuid)
    rewrote = [p for p in pushes if "with a lease" in p]
    assert len(rewrote) == 1 and f"rewriting {head[:10]}" in rewrote[0], pushes
    assert box.get(uuid)["ttal_pr"] == hub.url(1)


def test_green_and_approved_merges_then_cleans_up(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path, pr="      delete_branch: true\n")
    uuid, head = approved_task(box)
    hub.check(head, "unit", "SUCCESS")

    watch(box)
    [merge] = hub.ops("PullRequestMerge")
    assert merge.variables["input"] == {"pullRequestId": "PR_1", "expectedHeadOid": head,
                                        "mergeMethod": "MERGE"}  # fmt: skip
    task = box.get(uuid)
    assert task["status"] == "completed" and "merged" in task["tags"]
    assert hub.prs[1].state == "MERGED"
    assert sandbox.git(hub.remote, "merge-base", "--is-ancestor", head, "main") == ""
    assert not box.git("api", "branch", "--list", "ttal/*").strip()  # deleted once on origin
    assert not hub.tip(task["ttal_branch"]) and hub.ops("git/refs/heads/ttal")  # delete_branch
    assert not Path(task["ttal_worktree"]).exists()
    assert f"w-{uuid[:8]}" not in box.sessions()
    assert box.git("api", "rev-parse", "main") != head  # the local base is not ttal's to move


def test_a_pr_merged_by_hand_is_noticed_and_finished(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path, pr="      merge_method: squash\n")
    uuid, _head = approved_task(box)
    hub.merge_by_hand(1, "squash")  # the base holds the work, not the branch's commits

    rows = watch(box)
    assert any("was merged on the forge" in " ".join(r["did"]) for r in rows), rows
    task = box.get(uuid)
    assert task["status"] == "completed" and "merged" in task["tags"]
    assert not hub.ops("PullRequestMerge")
    assert not box.git("api", "branch", "--list", "ttal/*").strip()


def test_a_push_the_remote_refuses_is_retried_then_flagged(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    hook = hub.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: pushes need a signed commit' >&2\nexit 1\n")
    hook.chmod(0o755)
    uuid = box.add("Add JWT auth", "project:api")
    box.ttal("go", uuid, check=True)
    commit(box, uuid, "jwt.py", "TOKEN = 1\n")
    box.ttal("go", env=worker_env(uuid), check=True)
    approve = box.ttal("review", "approve", env=reviewer_env(uuid))
    assert approve.returncode == 0, approve.stderr
    wait_for(lambda: events(box, "forge-retry", uuid), 30, "the first try")

    second = box.ttal("go", uuid)
    assert second.returncode == Exit.EXTERNAL, second.stdout + second.stderr
    assert "push gave up after 2 tries" in second.stderr + second.stdout
    [note] = messages_to(box, "human")[-1:]
    assert "protected: pushes need a signed commit" in note and f"task {uuid[:8]}" in note
    journal = box.ttal("journal", "--json", check=True).stdout
    assert "forge.push" in journal and "flagged" in journal
    assert not hub.prs and not hub.ops("PullRequestCreate")
    third = box.ttal("go", uuid)  # flagged: not tried again until a person resolves it
    assert third.returncode == Exit.EXTERNAL and len(events(box, "forge-retry", uuid)) == 1

    hook.unlink()  # the person fixes the cause and resolves the entry: ttal tries again
    [flagged] = [i for i in json.loads(journal) if i["action"] == "forge.push"]
    box.ttal("journal", "resolve", str(flagged["id"]), check=True)
    fourth = box.ttal("go", uuid)
    assert fourth.returncode == Exit.WAITING, fourth.stdout + fourth.stderr
    assert len(hub.prs) == 1 and hub.tip(box.get(uuid)["ttal_branch"])


def test_a_crash_after_the_forge_merged_finishes_with_one_merge(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path, checks=())  # no checks: green at once
    uuid = box.add("Add JWT auth", "project:api")
    box.ttal("go", uuid, check=True)
    commit(box, uuid, "jwt.py", "TOKEN = 1\n")
    box.ttal("go", env=worker_env(uuid), check=True)
    fired = tmp_path / "fired"
    crash = {**reviewer_env(uuid), "TTAL_FAULT": "forge.merged", "TTAL_FAULT_LOG": str(fired)}
    box.ttal("review", "approve", env=crash, check=True)
    wait_for(lambda: fired.exists(), 30, "the crash after the merge")
    assert hub.prs[1].state == "MERGED" and "merged" not in box.get(uuid)["tags"]

    box.ttal("go", uuid, check=True)
    task = box.get(uuid)
    assert task["status"] == "completed" and "merged" in task["tags"]
    assert len(hub.ops("PullRequestMerge")) == 1
    assert "forge.merge" not in box.ttal("journal", "--json", check=True).stdout


@pytest.mark.parametrize("fault", ["forge.pushed", "forge.opened"])
def test_a_crash_between_push_and_pr_finds_the_pr_and_opens_no_second(
    make_box: Callable[..., Box], tmp_path: Path, fault: str
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid = box.add("Add JWT auth", "project:api")
    box.ttal("go", uuid, check=True)
    head = commit(box, uuid, "jwt.py", "TOKEN = 1\n")
    box.ttal("go", env=worker_env(uuid), check=True)
    fired = tmp_path / "fired"
    crash = {**reviewer_env(uuid), "TTAL_FAULT": fault, "TTAL_FAULT_LOG": str(fired)}
    box.ttal("review", "approve", env=crash, check=True)
    wait_for(lambda: fired.exists() and fault in fired.read_text(), 30, f"the crash at {fault}")
    assert hub.tip(box.get(uuid)["ttal_branch"]) == head
    assert not box.get(uuid).get("ttal_pr")

    after = box.ttal("go", uuid)
    assert after.returncode == Exit.WAITING, after.stdout + after.stderr
    assert len(hub.prs) == 1 and len(hub.ops("PullRequestCreate")) == 1
    assert box.get(uuid)["ttal_pr"] == hub.url(1)


def test_a_conflict_on_the_forge_goes_to_the_worker_once(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid, _head = approved_task(box)
    # Someone lands a change to the same file on the remote's base.
    other = tmp_path / "other"
    sandbox.git(tmp_path, "clone", "-q", str(hub.remote), str(other))
    (other / "jwt.py").write_text("TOKEN = 'theirs'\n", encoding="utf-8")
    sandbox.git(other, "add", "-A")
    sandbox.git(other, "commit", "-qm", "Theirs")
    sandbox.git(other, "push", "-q", "origin", "main")

    watch(box)
    watch(box)
    [told] = messages_to(box, f"w-{uuid[:8]}")
    assert "PR #1" in told and "conflicts with origin/main" in told
    assert box.git("api", "rev-parse", "origin/main").strip() == hub.tip("main")  # fetched
    assert not hub.ops("PullRequestMerge")


def test_opened_at_coded_then_merged_with_the_same_pr(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path, pr="      open_at: coded\n", checks=())
    uuid = box.add("Add JWT auth", "project:api")
    box.ttal("go", uuid, check=True)
    head = commit(box, uuid, "jwt.py", "TOKEN = 1\n")
    coded = box.ttal("go", env=worker_env(uuid), check=True)
    assert "PR #1" in coded.stdout, coded.stdout  # the worker's `ttal go`, no `ttal watch`
    [create] = hub.ops("PullRequestCreate")
    assert create.variables["input"]["headRefName"] == box.get(uuid)["ttal_branch"]
    assert hub.tip(box.get(uuid)["ttal_branch"]) == head
    assert box.get(uuid)["ttal_pr"] == hub.url(1) and hub.prs[1].state == "OPEN"
    assert "coded" in box.get(uuid)["tags"]
    assert "Approved by" not in hub.prs[1].body  # opened before the review

    box.ttal("review", "approve", env=reviewer_env(uuid), check=True)
    wait_for(lambda: box.get(uuid)["status"] == "completed", 30, "the merge")
    assert len(hub.ops("PullRequestCreate")) == 1
    assert hub.ops("PullRequestMerge")[0].variables["input"]["expectedHeadOid"] == head


def test_a_pr_that_fails_to_open_at_coded_keeps_the_tag_and_opens_on_the_next_watch(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path, pr="      open_at: coded\n", checks=())
    hub.refuse["PullRequestCreate"] = (200, "was submitted too quickly")  # once
    uuid = box.add("Add JWT auth", "project:api")
    box.ttal("go", uuid, check=True)
    commit(box, uuid, "jwt.py", "TOKEN = 1\n")
    coded = box.ttal("go", env=worker_env(uuid))
    assert coded.returncode == 0, coded.stdout + coded.stderr
    assert "open failed (1/2): " in coded.stdout and "submitted too quickly" in coded.stdout
    task = box.get(uuid)
    assert "coded" in task["tags"] and "reviewing" in task["tags"] and not task.get("ttal_pr")
    assert len(hub.ops("PullRequestCreate")) == 1 and not hub.prs
    assert events(box, "forge-retry", uuid)

    watch(box)  # the retry: backoff 0 in these tests
    assert box.get(uuid)["ttal_pr"] == hub.url(1) and len(hub.prs) == 1


def test_a_deleted_task_closes_its_pr_once(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid, _head = approved_task(box)
    assert box.task(uuid, "delete").returncode == 0

    rows = watch(box)
    watch(box)
    assert hub.prs[1].state == "CLOSED", rows
    [closing] = hub.prs[1].issue_comments
    assert closing["body"].startswith(
        f"Closed by ttal: task {uuid[:8]} (Add JWT auth) was deleted."
    )
    assert closing["user"] == "person" and by_ttal(closing["body"])  # the user's login, marked
    assert len([r for r in hub.requests if "closePullRequest" in r.query]) == 1


def test_doctor_checks_the_gh_login(make_box: Callable[..., Box], tmp_path: Path) -> None:
    box, hub = forge_box(make_box, tmp_path)
    ok = box.ttal("doctor", "--json")
    forge = [c for c in json.loads(ok.stdout) if c["name"] == "forge api"]
    assert forge and forge[0]["ok"], ok.stdout
    (Path(hub.env()["GH_CONFIG_DIR"]) / "hosts.yml").write_text("", encoding="utf-8")
    bad = box.ttal("doctor", "--json")
    forge = [c for c in json.loads(bad.stdout) if c["name"] == "forge api"]
    assert not forge[0]["ok"] and "gh auth login" in forge[0]["detail"], bad.stdout


def test_a_commit_pushed_on_the_forge_is_never_overwritten(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box, hub = forge_box(make_box, tmp_path)
    uuid, _head = approved_task(box)
    branch = box.get(uuid)["ttal_branch"]
    other = tmp_path / "other"  # someone adds a commit to the PR's branch on the forge
    sandbox.git(tmp_path, "clone", "-q", "-b", branch, str(hub.remote), str(other))
    (other / "NOTES.md").write_text("theirs\n", encoding="utf-8")
    sandbox.git(other, "add", "-A")
    sandbox.git(other, "commit", "-qm", "Theirs")
    sandbox.git(other, "push", "-q", "origin", branch)
    theirs = hub.tip(branch)

    tree = Path(box.get(uuid)["ttal_worktree"])  # the worker rewrites its own commit
    (tree / "jwt.py").write_text("TOKEN = 2\n", encoding="utf-8")
    sandbox.git(tree, "commit", "-qa", "--amend", "--no-edit")
    box.ttal("go", env=worker_env(uuid), check=True)
    box.ttal("review", "approve", env=reviewer_env(uuid), check=True)
    wait_for(lambda: any("which ttal did not push" in m for m in messages_to(box, "human")),
             30, "the spawner told")  # fmt: skip
    again = box.ttal("go", uuid)
    assert again.returncode == Exit.PRECONDITION and "did not push" in again.stderr
    assert hub.tip(branch) == theirs  # kept
    assert len([m for m in messages_to(box, "human") if "did not push" in m]) == 1
