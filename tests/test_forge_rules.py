"""The forge's pure rules (ttal.core.forge) and its keys in ttal.yaml (config/parse_forge.py),
without a subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_config import broken
from ttal.config.parse import parse_config
from ttal.core.forge import Check, PullState, merge_verdict, slug_from_url, tail
from ttal.errors import ConfigError, Exit


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("git@github.com:acme/api.git", "github.com/acme/api"),
        ("https://github.com/acme/api.git", "github.com/acme/api"),
        ("https://github.com/acme/api", "github.com/acme/api"),
        ("ssh://git@github.example.com:2222/acme/api.git", "github.example.com/acme/api"),
        ("https://token@github.com/acme/api/", "github.com/acme/api"),
        ("/srv/git/api.git", ""),
        ("../api", ""),
    ],
    ids=["scp", "https-git", "https", "ssh-port", "userinfo", "path", "relative"],
)
def test_the_repository_is_read_from_the_remote_url(url: str, slug: str) -> None:
    assert slug_from_url(url) == slug


HEAD = "a" * 40


def pr(**given: Any) -> PullState:
    return PullState(**{"number": 7, "url": "u", "state": "open", "head": HEAD, **given})


@pytest.mark.parametrize(
    ("state", "approved", "action", "says"),
    [
        (pr(), HEAD, "merge", "green and approved"),
        (pr(checks=(Check("unit", "success"),)), HEAD, "merge", "green"),
        (pr(checks=(Check("unit", "pending"),)), HEAD, "wait", "waiting for checks (unit)"),
        (pr(checks=(Check("unit", "failure"),)), HEAD, "wait", "checks failed (unit)"),
        (pr(conflict=True), HEAD, "wait", "conflicts with its base"),
        (pr(), "b" * 40, "wait", "not the commit the review lead approved"),
        (pr(), "", "wait", "not the commit"),
        (pr(state="merged"), "", "merged", "merged on the forge"),
        (pr(state="closed"), HEAD, "closed", "closed without a merge"),
    ],
    ids=[
        "no-checks",
        "green",
        "pending",
        "failed",
        "conflict",
        "other-head",
        "unapproved",
        "merged",
        "closed",
    ],
)
def test_a_pr_merges_only_green_and_at_the_approved_head(
    state: PullState, approved: str, action: str, says: str
) -> None:
    verdict = merge_verdict(state, approved)
    assert verdict.action == action and says in verdict.reason


def test_the_log_tail_keeps_the_last_lines() -> None:
    log = "\n".join(f"line {n}" for n in range(100)) + "\n\n\n"
    assert tail(log, 3) == "line 97\nline 98\nline 99"


def forge_project(**keys: Any) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data["projects"]["api"].update(keys)

    return edit


def test_the_forge_keys_parse(tmp_path: Path) -> None:
    text = broken(forge_project(merge="github", remote="upstream",
                                pr={"repo": "acme/api", "open_at": "coded",
                                    "merge_method": "squash", "delete_branch": True,
                                    "retries": 3, "backoff": 5}))  # fmt: skip
    project = parse_config(text, tmp_path / "ttal.yaml").projects["api"]
    assert (project.merge, project.remote) == ("github", "upstream")
    assert project.pr.repo == "acme/api" and project.pr.open_at == "coded"
    assert project.pr.merge_method == "squash" and project.pr.delete_branch
    assert (project.pr.retries, project.pr.backoff) == (3, 5.0)
    local = parse_config(broken(lambda d: None), tmp_path / "ttal.yaml").projects["api"]
    assert (local.merge, local.remote, local.pr.open_at) == ("local", "origin", "lgtm")


@pytest.mark.parametrize(
    ("keys", "key", "problem"),
    [
        ({"merge": "gitlab"}, "projects.api.merge", "use one of local, github"),
        ({"merge": "github", "remote": "-x"}, "projects.api.remote", "not a git remote"),
        ({"pr": {"open_at": "coded"}}, "projects.api.pr", "set projects.api.merge: github"),
        ({"merge": "github", "pr": {"open_at": "now"}}, "projects.api.pr.open_at", "lgtm, coded"),
        (
            {"merge": "github", "pr": {"merge_method": "ff"}},
            "projects.api.pr.merge_method",
            "merge, squash, rebase",
        ),
        ({"merge": "github", "pr": {"repo": "api"}}, "projects.api.pr.repo", "OWNER/REPO"),
        (
            {"merge": "github", "pr": {"delete_branch": "yes"}},
            "projects.api.pr.delete_branch",
            "true or false",
        ),
        ({"merge": "github", "pr": {"retries": 0}}, "projects.api.pr.retries", "from 1 to 100"),
        ({"merge": "github", "pr": {"draft": True}}, "projects.api.pr.draft", "unknown key"),
    ],
    ids=[
        "merge",
        "remote",
        "pr-on-local",
        "open-at",
        "method",
        "repo",
        "delete",
        "retries",
        "unknown",
    ],
)
def test_bad_forge_keys_name_file_key_and_fix(
    tmp_path: Path, keys: dict[str, Any], key: str, problem: str
) -> None:
    path = tmp_path / "ttal.yaml"
    with pytest.raises(ConfigError) as caught:
        parse_config(broken(forge_project(**keys)), path)
    assert caught.value.message.startswith(f"{path}: {key}"), caught.value.message
    assert problem in str(caught.value) and caught.value.exit_code is Exit.CONFIG
