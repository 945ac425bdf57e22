"""A bad ttal.yaml gives one ConfigError naming the file and the key, never a traceback."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ttal.config.load import config_path, load_config
from ttal.config.parse import parse_config
from ttal.errors import ConfigError, Exit

# A valid config with two pipelines; each case below breaks one thing in a copy of it.
VALID: dict[str, Any] = {
    "tmux_socket": "ttal-test",
    "projects": {"api": {"repo": "repos/api", "base": "main"}},
    "runtimes": {"scripted-worker": {"kind": "scripted", "script": "worker.yaml"}},
    "agents": {
        "coder": {"role": "worker", "runtime": "scripted-worker"},
        "review-lead": {"role": "reviewer", "runtime": "scripted-worker"},
    },
    "pipelines": {
        "default": {
            "stages": [
                {"name": "implement", "agent": "coder", "tag": "coded", "gate": "review",
                 "reviewer": "review-lead", "review_tag": "reviewing", "approve_tag": "lgtm"},
                {"name": "merge", "kind": "merge", "tag": "merged", "gate": "auto"},
            ]
        },
        "planned": {
            "match_tags": ["feature"],
            "stages": [
                {"name": "plan", "agent": "coder", "tag": "planned", "gate": "human",
                 "commits": False},
                {"name": "merge", "kind": "merge", "tag": "shipped", "gate": "human"},
            ],
        },
    },
    "limits": {"max_workers": 4},
}  # fmt: skip

Edit = Callable[[dict[str, Any]], None]


def broken(edit: Edit) -> str:
    data = copy.deepcopy(VALID)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def first_stage(data: dict[str, Any]) -> dict[str, Any]:
    stage: dict[str, Any] = data["pipelines"]["default"]["stages"][0]
    return stage


def test_the_valid_config_parses(tmp_path: Path) -> None:
    cfg = parse_config(broken(lambda d: None), tmp_path / "ttal.yaml")
    assert cfg.projects["api"].repo == tmp_path / "repos" / "api"  # relative to the file
    assert cfg.pipelines["planned"].tags == ("planned", "shipped")
    assert cfg.limits.max_workers == 4


def test_no_pipelines_means_the_default_one(tmp_path: Path) -> None:
    cfg = parse_config(broken(lambda d: d.pop("pipelines")), tmp_path / "ttal.yaml")
    assert list(cfg.pipelines) == ["default"]
    assert cfg.pipelines["default"].tags == ("coded", "reviewing", "lgtm", "merged")
    assert cfg.pipelines["default"].stages[0].reviewer == "review-lead"


def test_stage_tags_may_be_shared_between_pipelines(tmp_path: Path) -> None:
    shared = set_key(("pipelines", "planned", "stages", 1, "tag"), "merged")
    cfg = parse_config(broken(shared), tmp_path / "ttal.yaml")
    assert cfg.pipelines["planned"].tags[-1] == cfg.pipelines["default"].tags[-1] == "merged"


def set_key(path: tuple[str | int, ...], value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def drop_key(path: tuple[str | int, ...]) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


STAGE0 = ("pipelines", "default", "stages", 0)
MERGE_ONLY = {"name": "merge", "kind": "merge", "tag": "landed"}
PLAN0 = ("pipelines", "planned", "stages", 0)

# (edit, the key the message must name, a fragment of the problem)
BROKEN: dict[str, tuple[Edit, str, str]] = {
    "unknown-top-level-key": (set_key(("workers",), 3), "workers: unknown key", "allowed keys"),
    "unknown-nested-key": (
        set_key(("projects", "api", "branch"), "x"),
        "projects.api.branch: unknown key",
        "",
    ),
    "project-missing-repo": (drop_key(("projects", "api", "repo")), "projects.api.repo", "missing"),
    "project-not-a-mapping": (
        set_key(("projects", "api"), "repos/api"),
        "projects.api",
        "expected a mapping, got str",
    ),
    "agent-bad-role": (
        set_key(("agents", "coder", "role"), "big boss"),
        "agents.coder.role",
        "role 'big boss' is not a plain name",
    ),
    "agent-reserved-name": (
        set_key(("agents", "w-1"), {"role": "manager"}),
        "agents.w-1",
        "is reserved",
    ),
    "agent-missing-role": (drop_key(("agents", "coder", "role")), "agents.coder.role", "expected"),
    "agent-undefined-runtime": (
        set_key(("agents", "coder", "runtime"), "gpt"),
        "agents.coder.runtime",
        "no runtime named 'gpt'",
    ),
    "runtime-unknown-kind": (
        set_key(("runtimes", "scripted-worker", "kind"), "docker"),
        "runtimes.scripted-worker.kind",
        "unknown kind 'docker'",
    ),
    "stage-bad-gate": (
        set_key((*STAGE0, "gate"), "manual"),
        "pipelines.default.stages[0].gate",
        "unknown gate 'manual'",
    ),
    "stage-name-with-dash": (
        set_key((*STAGE0, "name"), "first-pass"),
        "pipelines.default.stages[0].name",
        "'first-pass' is not tag-safe",
    ),
    "tag-with-dash": (
        set_key((*STAGE0, "tag"), "code-done"),
        "pipelines.default.stages[0].tag",
        "not a valid tag",
    ),
    "match-tag-in-two-pipelines": (
        set_key(("pipelines", "hotfix"), {"match_tags": ["feature"], "stages": [MERGE_ONLY]}),
        "pipelines.hotfix.match_tags",
        "tag 'feature' is also used by pipeline 'planned'",
    ),
    "match-tag-is-a-stage-tag": (
        set_key(("pipelines", "planned", "match_tags"), ["lgtm"]),
        "pipelines.planned.match_tags",
        "tag 'lgtm' is also used by a stage tag",
    ),
    "same-tag-twice-in-one-pipeline": (
        set_key((*STAGE0, "approve_tag"), "reviewing"),
        "pipelines.default",
        "'reviewing' is used twice",
    ),
    "last-stage-not-merge": (
        drop_key(("pipelines", "default", "stages", 1)),
        "pipelines.default.stages",
        "the last stage, and only it, must be kind: merge",
    ),
    "merge-stage-not-last": (
        set_key(
            ("pipelines", "planned", "stages"),
            [{"name": "merge", "kind": "merge"}, {"name": "after", "kind": "merge", "tag": "x"}],
        ),
        "pipelines.planned.stages",
        "only it, must be kind: merge",
    ),
    "review-gate-without-reviewer": (
        drop_key((*STAGE0, "reviewer")),
        "pipelines.default.stages[0].reviewer",
        "expected a non-empty string",
    ),
    "reviewer-is-a-worker": (
        set_key((*STAGE0, "reviewer"), "coder"),
        "pipelines.default.stages[0].reviewer",
        "agent 'coder' has role 'worker'",
    ),
    "review-gate-on-merge": (
        set_key(("pipelines", "default", "stages", 1, "gate"), "review"),
        "pipelines.default.stages[1].gate",
        "a merge stage cannot have a review gate",
    ),
    "two-default-pipelines": (
        set_key(("pipelines", "planned", "match_tags"), []),
        "pipelines.planned.match_tags",
        "all have no match_tags",
    ),
    "max-workers-zero": (
        set_key(("limits", "max_workers"), 0),
        "limits.max_workers",
        "expected a positive integer, got 0",
    ),
    "max-workers-negative": (set_key(("limits", "max_workers"), -2), "limits.max_workers", "-2"),
    "max-workers-string": (set_key(("limits", "max_workers"), "8"), "limits.max_workers", "'8'"),
    "max-workers-bool": (set_key(("limits", "max_workers"), True), "limits.max_workers", "True"),
    "max-workers-float": (set_key(("limits", "max_workers"), 2.5), "limits.max_workers", "2.5"),
    "bad-tmux-socket": (set_key(("tmux_socket",), "a/b"), "tmux_socket", "not a valid socket"),
    # It would turn a Codex review lead's read-only permission profile off
    # (ttal.adapters.runtimes.launch).
    "codex-sandbox-flag": (
        set_key(("runtimes", "cx"), {"kind": "codex", "args": ["-m", "o3", "--sandbox=read-only"]}),
        "runtimes.cx.args",
        "--sandbox=read-only is ttal's to set",
    ),
}


@pytest.mark.parametrize(("edit", "key", "problem"), list(BROKEN.values()), ids=list(BROKEN))
def test_bad_config_names_file_and_key(tmp_path: Path, edit: Edit, key: str, problem: str) -> None:
    path = tmp_path / "ttal.yaml"
    with pytest.raises(ConfigError) as caught:
        parse_config(broken(edit), path)
    message = caught.value.message
    assert message.startswith(f"{path}: {key}"), message
    assert problem in str(caught.value)  # the message or its hint
    assert caught.value.exit_code is Exit.CONFIG


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("projects:\n  api: {repo: /x\n", 3, id="unclosed-flow-mapping"),
        pytest.param("tmux_socket: ttal\nprojects: a\n  b: c\n", 3, id="bad-indent"),
        pytest.param("limits:\n\tmax_workers: 2\n", 2, id="tab"),
    ],
)
def test_invalid_yaml_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "ttal.yaml"
    with pytest.raises(ConfigError, match=rf"not valid YAML at line {line}, column \d+") as caught:
        parse_config(text, path)
    assert caught.value.message.startswith(f"{path}: ")
    assert "ttal init --print" in caught.value.hint


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("- a\n- b\n", id="list"),
        pytest.param("just text\n", id="scalar"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ttal.yaml"
    with pytest.raises(ConfigError, match="top level: expected a mapping") as caught:
        parse_config(text, path)
    assert str(path) in caught.value.message


def test_missing_file_hints_at_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no ttal config at") as caught:
        load_config(tmp_path / "nope.yaml")
    assert "ttal init" in caught.value.hint


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "ttal.yaml"
    path.write_bytes(b"tmux_socket: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)


def test_config_path_prefers_ttal_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "ttal" / "ttal.yaml"
    monkeypatch.setenv("TTAL_CONFIG", str(tmp_path / "mine.yaml"))
    assert config_path() == tmp_path / "mine.yaml"


# ---- through the CLI ------------------------------------------------------------------


def ttal(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # conftest points HOME and XDG_* into the test's temp dir
    if config is not None:
        env["TTAL_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "ttal", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def assert_one_message(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len([line for line in lines if line.startswith("ttal:")]) == 1, proc.stderr
    assert lines[0].startswith("ttal: "), proc.stderr
    return proc.stderr


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("projects: [\n", "not valid YAML at line 2", id="invalid-yaml"),
        pytest.param("bogus: 1\n", "bogus: unknown key", id="unknown-key"),
        pytest.param("agents:\n  x: {role: big boss}\n", "agents.x.role", id="bad-role"),
        pytest.param("- 1\n", "top level", id="not-a-mapping"),
    ],
)
def test_status_with_broken_config_exits_10(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    proc = ttal("status", config=path)
    assert proc.returncode == 10  # Exit.CONFIG
    stderr = assert_one_message(proc)
    assert str(path) in stderr
    assert fragment in stderr


def test_status_without_config_exits_10_with_init_hint(tmp_path: Path) -> None:
    proc = ttal("status", config=tmp_path / "missing.yaml")
    assert proc.returncode == Exit.CONFIG
    stderr = assert_one_message(proc)
    assert "no ttal config at" in stderr
    assert "ttal init" in stderr


def test_status_without_config_default_location(tmp_path: Path) -> None:
    proc = ttal("status")  # no TTAL_CONFIG: $XDG_CONFIG_HOME/ttal/ttal.yaml, which is absent
    assert proc.returncode == Exit.CONFIG
    assert "ttal init" in assert_one_message(proc)


def test_init_writes_a_config_that_parses(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "ttal.yaml"
    proc = ttal("init", "--path", str(target))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {target}" in proc.stdout
    cfg = parse_config(target.read_text(encoding="utf-8"), target)
    assert "api" in cfg.projects
    assert cfg.pipelines["default"].tags == ("coded", "reviewing", "lgtm", "merged")


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "ttal.yaml"
    assert ttal("init", "--path", str(target)).returncode == 0
    target.write_text("# my edits\n", encoding="utf-8")

    proc = ttal("init", "--path", str(target))

    assert proc.returncode == 12  # Exit.PRECONDITION
    stderr = assert_one_message(proc)
    assert "already exists; nothing was written" in stderr
    assert target.read_text(encoding="utf-8") == "# my edits\n"


def test_init_print_writes_nothing(tmp_path: Path) -> None:
    proc = ttal("init", "--print")
    assert proc.returncode == 0
    parse_config(proc.stdout, tmp_path / "ttal.yaml")
    assert not config_path().exists()
