"""The sh hooks' fast path never lets through what the full check (tagrules) refuses.

The installed on-modify-ttal and on-add-ttal run for real under /bin/sh, fed the JSON lines
Taskwarrior would send, for generated tasks: pipeline tags, ttal_approved, and descriptions
and tags built to look like the tokens the sh code searches for. Each verdict (and the line
printed on acceptance) must equal tagrules' own verdict. Whether the fast path decided or
Python did is checked too, so the fast path cannot silently stop being fast.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttal.adapters import sandbox, task_hooks
from ttal.config.load import load_config
from ttal.core.tagrules import check_add, check_modify

PIPELINE_TAGS = ["coded", "reviewing", "lgtm", "merged", "planned", "plan_lgtm", "shipped"]
OTHER_TAGS = ["feature", "wip", "x]", 'a"b', "co", "coded2", "tags", "lgtm]", "]"]
TRICKY_TEXT = ['"coded"', "coded", '"tags":["lgtm"]', "]", '","', "\\", "lgtm", "日本"]
IDENTITIES = [{}, {"TTAL_AGENT": "r-1", "TTAL_ROLE": "reviewer", "TTAL_TASK": "U"}]
UUID = "0f2c6e2a-1b2c-4d5e-8f90-123456789abc"


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("fastpath")
    box = sandbox.build(root / "box", repos={"api": {"a.txt": "a\n"}})
    cfg = load_config(box.config)
    directory = root / "hooks"
    task_hooks.install(cfg, directory)
    return directory, task_hooks.rules_dict(cfg)


def as_taskwarrior(task: dict[str, Any]) -> str:
    """One line, like `task export` of one task: compact, UTF-8 as is."""
    return json.dumps(task, separators=(",", ":"), ensure_ascii=False)


tags = st.lists(st.sampled_from(PIPELINE_TAGS + OTHER_TAGS), unique=True, max_size=5)
texts = st.lists(st.sampled_from(TRICKY_TEXT), max_size=3).map(" ".join)


@st.composite
def tasks(draw: st.DrawFn) -> dict[str, Any]:
    task: dict[str, Any] = {"id": 1, "description": draw(texts) or "work", "uuid": UUID}
    chosen = draw(tags)
    if chosen:
        task["tags"] = chosen
    if draw(st.booleans()):
        task["ttal_approved"] = draw(st.sampled_from(["", "2026-11-28", "lgtm"]))
    if draw(st.booleans()):
        task["annotations"] = [{"entry": "20261128T000000Z", "description": draw(texts)}]
    return task


def run_hook(directory: Path, name: str, stdin: str, env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run(
        ["/bin/sh", str(directory / name)], input=stdin.encode(), capture_output=True,
        env={"PATH": "/usr/bin:/bin", **env}, timeout=30, check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout.decode()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    old=tasks(), new=tasks(), who=st.sampled_from(IDENTITIES), extra=tags,
    change=st.sampled_from(["keep tags", "add tags", "anything"]),
)  # fmt: skip
def test_modify_fast_path_agrees_with_the_rules(
    hooks: tuple[Path, dict[str, Any]], old: dict[str, Any], new: dict[str, Any],
    who: dict[str, str], extra: list[str], change: str,
) -> None:  # fmt: skip
    directory, rules = hooks
    new = {k: v for k, v in new.items() if k != "tags"} if change != "anything" else new
    if change == "keep tags" and "tags" in old:  # the common case: tags left alone
        new["tags"] = old["tags"]
    if change == "add tags":  # what a pipeline does: only ever more tags
        added = old.get("tags", []) + [t for t in extra if t not in old.get("tags", [])]
        if added:
            new["tags"] = added
    env = {k: v.replace("U", UUID) for k, v in who.items()}
    before, after = as_taskwarrior(old), as_taskwarrior(new)
    code, out = run_hook(directory, "on-modify-ttal", f"{before}\n{after}\n", env)
    reason = check_modify(old, new, rules, env)
    assert (code == 0) == (reason == ""), (before, after, out, reason)
    if code == 0:
        assert out == after + "\n"


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(task=tasks())
def test_add_fast_path_agrees_with_the_rules(
    hooks: tuple[Path, dict[str, Any]], task: dict[str, Any]
) -> None:
    directory, rules = hooks
    line = as_taskwarrior(task)
    code, out = run_hook(directory, "on-add-ttal", line + "\n", {})
    reason = check_add(task, rules)
    assert (code == 0) == (reason == ""), (line, out, reason)
    if code == 0:
        assert out == line + "\n"


@pytest.mark.parametrize(
    ("old", "new", "fast"),
    [
        pytest.param({"tags": ["wip"]}, {"tags": ["wip", "x"]}, True, id="outside-the-pipeline"),
        pytest.param({"tags": ["coded"]}, {"tags": ["coded"], "priority": "H"}, True, id="kept"),
        pytest.param({"tags": ["coded"]}, {"tags": ["coded", "x"]}, True, id="another-tag"),
        pytest.param({"tags": ["coded"]}, {"tags": ["coded", "reviewing"]}, True, id="next-stage"),
        pytest.param({"tags": ["feature"]}, {"tags": ["feature", "planned"]}, True, id="planned"),
        pytest.param({"tags": ["coded"]}, {"tags": ["coded", "merged"]}, False, id="skip-stages"),
        pytest.param({"tags": ["coded", "reviewing"]}, {"tags": ["coded", "reviewing", "lgtm"]},
                     False, id="approval"),
        pytest.param({"tags": ["coded"]}, {"tags": ["x"]}, False, id="removal"),
        pytest.param({"tags": ["coded"]}, {"tags": ["coded", "feature"]}, False, id="switch"),
        pytest.param({"tags": ["coded", "x]"]}, {"tags": ["coded", "x]", "y"]}, False, id="bra"),
        pytest.param({"ttal_approved": "a"}, {"ttal_approved": "a"}, False, id="person-only-uda"),
    ],
)  # fmt: skip
def test_which_modifies_skip_python(
    hooks: tuple[Path, dict[str, Any]], tmp_path: Path, old: dict[str, Any],
    new: dict[str, Any], fast: bool,
) -> None:  # fmt: skip
    """A Python that leaves a mark shows whether the fast path decided."""
    directory, _ = hooks
    probe = tmp_path / "hooks"
    probe.mkdir()
    for item in directory.iterdir():
        (probe / item.name).write_bytes(item.read_bytes())
    mark = tmp_path / "python-ran"
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\ntouch {mark}\ncat >/dev/null\nexit 1\n")
    fake.chmod(0o755)
    hook = probe / "on-modify-ttal"
    text = hook.read_text().replace("TTAL_PY='", f"TTAL_PY='{fake}' #'", 1)
    hook.write_text(text)
    before = as_taskwarrior({"description": "d", "uuid": UUID, **old})
    after = as_taskwarrior({"description": "d", "uuid": UUID, **new})
    code, _ = run_hook(probe, "on-modify-ttal", f"{before}\n{after}\n", {})
    assert mark.exists() is not fast
    assert (code == 0) is fast  # the fake Python refuses everything it sees
