"""ttal's Taskwarrior hooks, installed by `ttal doctor --fix`, enforce the monotonic tags.

Every case runs through three paths that reach the same hook: raw `task`, tasklib, and
ttal's own adapter. A rejection must leave the task exactly as it was.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tasklib
from tasklib.backends import TaskWarriorException

from tests import by_hand
from tests.conftest import Box
from ttal.adapters import identity, sandbox
from ttal.adapters.taskwarrior import HookRejected, Taskwarrior
from ttal.core.tagrules import check_add
from ttal.errors import Exit

# A third pipeline, so that a task can carry the match tags of two.
HOTFIX_YAML = """\
  hotfix:
    match_tags: [hotfix, urgent]
    stages:
      - {name: fix, agent: coder, tag: fixed, gate: auto}
      - {name: merge, kind: merge, tag: hotfixed, gate: auto}
"""
SELF = "<own task>"  # replaced by the task's uuid
STRANGER = "deadbeef-0000-4000-8000-000000000000"

HUMAN: dict[str, str] = {}
MANAGER = {"TTAL_AGENT": "boss", "TTAL_ROLE": "manager"}
WORKER = {"TTAL_AGENT": "coder", "TTAL_ROLE": "worker", "TTAL_TASK": SELF}
REVIEWER = {"TTAL_AGENT": "review-lead", "TTAL_ROLE": "reviewer", "TTAL_TASK": SELF}
OTHER_REVIEWER = {**REVIEWER, "TTAL_TASK": STRANGER}
IDENTITY_VARS = identity.VARS
PATHS = ("task", "tasklib", "ttal")


@pytest.fixture(scope="module")
def hbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """One sandbox for the module: `doctor --fix` costs ~1 s, and every test uses a new task."""
    root = tmp_path_factory.mktemp("hooks")
    with pytest.MonkeyPatch.context() as mp:  # the same isolation conftest._isolated gives
        (root / "home").mkdir()
        mp.setenv("HOME", str(root / "home"))
        mp.setenv("XDG_CONFIG_HOME", str(root / "home" / ".config"))
        mp.setenv("XDG_STATE_HOME", str(root / "home" / ".local" / "state"))
        mp.setenv("TASKRC", str(root / "home" / "no-taskrc"))
        (root / "tmux").mkdir()
        mp.setenv("TMUX_TMPDIR", str(root / "tmux"))  # kept by Sandbox.env for its -L server
        for key in (*IDENTITY_VARS, "TTAL_CONFIG", "TASKDATA"):
            mp.delenv(key, raising=False)
        box = Box(sandbox.build(root / "box", extra_yaml=HOTFIX_YAML))
    box.ttal("doctor", "--fix", check=True)
    yield box
    # No test here starts tmux; this is a safety net. box.env, not os.environ, holds the
    # private TMUX_TMPDIR once the function-level isolation is gone.
    subprocess.run(["tmux", "-L", box.sb.socket, "kill-server"], env=box.env,
                   capture_output=True, check=False)  # fmt: skip


def identity(env: dict[str, str], uuid: str) -> dict[str, str]:
    return {k: uuid if v == SELF else v for k, v in env.items()}


def set_identity(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """tasklib and ttal's adapter pass os.environ on to `task`, so identity lives there."""
    for key in IDENTITY_VARS:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def advance(box: Box, uuid: str, tags: tuple[str, ...]) -> None:
    """Put a task at a pipeline position. Setup only, so the hooks are off: each hook run
    starts a Python (~75 ms), and the hook's judgement of these steps is tested below."""
    if tags:
        proc = box.task("rc.hooks=off", uuid, "modify", *(f"+{t}" for t in tags))
        assert proc.returncode == 0, proc.stderr


def tasklib_tw(box: Box) -> tasklib.TaskWarrior:
    return tasklib.TaskWarrior(
        data_location=str(box.sb.task_data),
        taskrc_location=str(box.sb.taskrc),
        version_override="2.6.2",
    )


def ttal_tw(box: Box) -> Taskwarrior:
    return Taskwarrior(box.sb.taskrc, box.sb.task_data, box.sb.state_dir / "locks")


def stable(task: dict[str, Any]) -> dict[str, Any]:
    """A task's export minus urgency, which Taskwarrior recomputes on every read."""
    return {k: v for k, v in task.items() if k != "urgency"}


# ---- modify ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    start: tuple[str, ...] = ()  # pipeline tags added (in order) before the change
    match: tuple[str, ...] = ()  # tags the task is created with (match tags, plain tags)
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    udas: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # "" means the hook accepts the change

    def args(self) -> list[str]:
        return (
            [f"+{t}" for t in self.add]
            + [f"-{t}" for t in self.remove]
            + [f"{k}:{v}" for k, v in self.udas.items()]
        )


REJECTED = {
    "remove-pipeline-tag": Change(
        start=("coded",), remove=("coded",), reason="pipeline tag +coded is never removed"
    ),
    "remove-approval-as-reviewer": Change(
        start=("coded", "reviewing", "lgtm"),
        remove=("lgtm",),
        env=REVIEWER,
        reason="pipeline tag +lgtm is never removed",
    ),
    "lgtm-out-of-order": Change(
        add=("lgtm",), env=REVIEWER, reason="+lgtm needs +reviewing first (order: coded -> "
    ),
    "merged-skipping-lgtm": Change(
        start=("coded", "reviewing"), add=("merged",), reason="+merged needs +lgtm first"
    ),
    "lgtm-from-person-shell": Change(
        start=("coded", "reviewing"),
        add=("lgtm",),
        reason="+lgtm is added only by the review lead (`ttal review approve`); you are a human",
    ),
    "lgtm-from-worker": Change(
        start=("coded", "reviewing"), add=("lgtm",), env=WORKER, reason="you are a worker"
    ),
    "lgtm-from-manager": Change(
        start=("coded", "reviewing"), add=("lgtm",), env=MANAGER, reason="you are a manager"
    ),
    "lgtm-from-role-without-agent": Change(
        start=("coded", "reviewing"),
        add=("lgtm",),
        env={"TTAL_ROLE": "reviewer"},
        reason="you are a human",
    ),
    "lgtm-from-reviewer-of-another-task": Change(
        start=("coded", "reviewing"),
        add=("lgtm",),
        env=OTHER_REVIEWER,
        reason="+lgtm: this review lead belongs to task deadbeef",
    ),
    "lgtm-from-reviewer-without-task": Change(
        start=("coded", "reviewing"),
        add=("lgtm",),
        env={**REVIEWER, "TTAL_TASK": ""},
        reason="this review lead belongs to task",
    ),
    "tag-of-planned-on-default-task": Change(
        add=("planned",), reason="+planned belongs to another pipeline than default"
    ),
    "tag-of-default-on-feature-task": Change(
        match=("feature",), add=("coded",), reason="+coded belongs to another pipeline than planned"
    ),
    "planned-skipping-plan-review": Change(
        match=("feature",),
        start=("planned", "plan_reviewing"),
        add=("built",),
        reason="+built needs +plan_lgtm first",
    ),
    "build-lgtm-from-plan-reviewer-of-another-task": Change(
        match=("feature",),
        start=("planned", "plan_reviewing", "plan_lgtm", "built", "build_reviewing"),
        add=("build_lgtm",),
        env=OTHER_REVIEWER,
        reason="+build_lgtm: this review lead belongs to task deadbeef",
    ),
    "pipeline-tag-on-task-matching-two-pipelines": Change(
        match=("feature",),
        start=("hotfix",),  # on-add refuses both at once; a modify adding one is let through
        add=("planned",),
        reason="its tags match several pipelines (planned, hotfix)",
    ),
    "match-tag-moving-a-task-mid-flight": Change(
        start=("coded",),
        add=("feature",),
        reason="it is in pipeline default; its tags may not move it to planned mid-flight",
    ),
    "match-tag-dropped-mid-flight": Change(
        match=("feature",),
        start=("planned",),
        remove=("feature",),
        env=MANAGER,
        reason="it is in pipeline planned; its tags may not move it to default mid-flight",
    ),
    "approval-by-worker": Change(
        start=("coded",),
        udas={"ttal_approved": "implement"},
        env=WORKER,
        reason="only a person may change ttal_approved (you are a worker)",
    ),
    "approval-by-reviewer": Change(
        udas={"ttal_approved": "merge"}, env=REVIEWER, reason="(you are a reviewer)"
    ),
    "approval-by-manager": Change(
        udas={"ttal_approved": "merge"}, env=MANAGER, reason="(you are a manager)"
    ),
}

ACCEPTED = {
    "coded-by-person": Change(add=("coded",)),
    "reviewing-by-manager": Change(start=("coded",), add=("reviewing",), env=MANAGER),
    "two-tags-in-order-at-once": Change(add=("coded", "reviewing")),
    "lgtm-by-own-reviewer": Change(start=("coded", "reviewing"), add=("lgtm",), env=REVIEWER),
    "merged-after-lgtm": Change(start=("coded", "reviewing", "lgtm"), add=("merged",), env=MANAGER),
    "plan-lgtm-by-own-reviewer": Change(
        match=("feature",), start=("planned", "plan_reviewing"), add=("plan_lgtm",), env=REVIEWER
    ),
    "hotfix-in-order": Change(match=("hotfix",), start=("fixed",), add=("hotfixed",)),
    "match-tag-before-any-pipeline-tag": Change(add=("feature",)),
    "second-match-tag-of-one-pipeline-mid-flight": Change(
        match=("hotfix",), start=("fixed",), add=("urgent", "hotfixed")
    ),
    "plain-tag-by-worker": Change(start=("coded",), add=("wip",), env=WORKER),
    "remove-plain-tag-by-worker": Change(match=("wip",), remove=("wip",), env=WORKER),
    "re-adding-a-present-tag": Change(start=("coded",), add=("coded",), env=WORKER),
    "approval-by-person": Change(start=("coded",), udas={"ttal_approved": "implement"}),
    "other-udas-by-worker": Change(udas={"ttal_branch": "ttal/x"}, env=WORKER),
}


def apply_with_task(box: Box, uuid: str, change: Change, env: dict[str, str]) -> str:
    """Returns the rejection reason, or "" if accepted."""
    proc = box.task(uuid, "modify", *change.args(), env=env)
    if proc.returncode == 0:
        return ""
    assert proc.returncode == 4, (proc.returncode, proc.stderr)  # TW's code for a hook refusal
    assert proc.stdout == ""
    return proc.stderr


def apply_with_tasklib(box: Box, uuid: str, change: Change, env: dict[str, str]) -> str:
    task = tasklib_tw(box).tasks.get(uuid=uuid)
    for tag in change.add:
        task["tags"].add(tag)
    for tag in change.remove:
        task["tags"].discard(tag)
    for key, value in change.udas.items():
        task[key] = value
    try:
        task.save()
    except TaskWarriorException as err:
        task.refresh()  # the local object stays dirty after a refusal (libraries.md §1.8)
        assert set(task["tags"]) == set(box.get(uuid).get("tags", []))
        return str(err).split("\nCommand used:")[0] + "\n"
    return ""


def apply_with_ttal(box: Box, uuid: str, change: Change, env: dict[str, str]) -> str:
    tw = ttal_tw(box)
    try:
        if change.remove or change.udas:
            tw.modify(uuid, *change.args())
        else:
            tw.add_tags(uuid, change.add)
    except HookRejected as err:
        assert err.exit_code is Exit.FORBIDDEN
        return f"ttal: {err}\n"
    return ""


APPLY: dict[str, Callable[[Box, str, Change, dict[str, str]], str]] = {
    "task": apply_with_task,
    "tasklib": apply_with_tasklib,
    "ttal": apply_with_ttal,
}


def prepare(box: Box, change: Change, request: pytest.FixtureRequest) -> str:
    uuid = box.add(request.node.name, "rc.hooks=off", *(f"+{t}" for t in change.match))
    advance(box, uuid, change.start)
    return uuid


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("change", list(REJECTED.values()), ids=list(REJECTED))
def test_hook_rejects(
    hbox: Box, change: Change, path: str, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    uuid = prepare(hbox, change, request)
    env = identity(change.env, uuid)
    set_identity(monkeypatch, env)
    before = stable(hbox.get(uuid))

    output = APPLY[path](hbox, uuid, change, env)

    assert output.startswith("ttal: "), output
    assert output.count("\n") == 1, f"the reason must be one line: {output!r}"
    assert change.reason in output
    assert stable(hbox.get(uuid)) == before


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("change", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_hook_accepts(
    hbox: Box, change: Change, path: str, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    uuid = prepare(hbox, change, request)
    env = identity(change.env, uuid)
    set_identity(monkeypatch, env)

    assert APPLY[path](hbox, uuid, change, env) == ""

    after = hbox.get(uuid)
    tags = set(after.get("tags", []))
    assert set(change.add) <= tags
    assert not set(change.remove) & tags
    assert {k: after.get(k) for k in change.udas} == change.udas


# ---- add ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewTask:
    tags: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    reason: str = ""


ADD_REJECTED = {
    "pipeline-tag": NewTask(("coded",), reason="task not added: +coded is a pipeline tag"),
    "approve-tag-by-reviewer": NewTask(
        ("lgtm",), env=REVIEWER, reason="+lgtm is a pipeline tag; only ttal adds it"
    ),
    "planned-tag-with-match-tag": NewTask(("feature", "planned"), reason="+planned is a pipeline"),
    "two-pipelines": NewTask(
        ("feature", "hotfix"), reason="task not added: its tags match several pipelines"
    ),
}
ADD_ACCEPTED = {
    "plain": NewTask(()),
    "plain-tags": NewTask(("docs", "wip")),
    "one-match-tag": NewTask(("feature",)),
    "other-match-tag-by-manager": NewTask(("hotfix", "docs"), env=MANAGER),
}


def add_with_task(box: Box, description: str, tags: tuple[str, ...], env: dict[str, str]) -> str:
    proc = box.task("add", f"description:{description}", *(f"+{t}" for t in tags), env=env)
    if proc.returncode == 0:
        return ""
    assert proc.returncode == 4, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    return proc.stderr


def add_with_tasklib(box: Box, description: str, tags: tuple[str, ...], env: dict[str, str]) -> str:
    task = tasklib.Task(tasklib_tw(box), description=description, tags=list(tags))
    try:
        task.save()
    except TaskWarriorException as err:
        return str(err).split("\nCommand used:")[0] + "\n"
    return ""


def add_with_ttal(box: Box, description: str, tags: tuple[str, ...], env: dict[str, str]) -> str:
    try:
        ttal_tw(box).add(description, *(f"+{t}" for t in tags))
    except HookRejected as err:
        return f"ttal: {err}\n"
    return ""


ADD: dict[str, Callable[[Box, str, tuple[str, ...], dict[str, str]], str]] = {
    "task": add_with_task,
    "tasklib": add_with_tasklib,
    "ttal": add_with_ttal,
}


def with_description(box: Box, description: str) -> list[dict[str, Any]]:
    return ttal_tw(box).export(f"description:{description}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("new", list(ADD_REJECTED.values()), ids=list(ADD_REJECTED))
def test_on_add_rejects(
    hbox: Box, new: NewTask, path: str, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    description = f"add {request.node.name}"
    set_identity(monkeypatch, new.env)

    output = ADD[path](hbox, description, new.tags, new.env)

    assert output.startswith("ttal: "), output
    assert output.count("\n") == 1, f"the reason must be one line: {output!r}"
    assert new.reason in output
    assert with_description(hbox, description) == []


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("new", list(ADD_ACCEPTED.values()), ids=list(ADD_ACCEPTED))
def test_on_add_accepts(
    hbox: Box, new: NewTask, path: str, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    description = f"add {request.node.name}"
    set_identity(monkeypatch, new.env)

    assert ADD[path](hbox, description, new.tags, new.env) == ""

    [task] = with_description(hbox, description)
    assert set(task.get("tags", [])) == set(new.tags)


# ---- check_add as a pure function -----------------------------------------------------

RULES = {
    "pipelines": [
        {"name": "default", "match_tags": [], "tags": ["coded", "reviewing", "lgtm", "merged"]},
        {"name": "planned", "match_tags": ["feature"], "tags": ["planned", "shipped"]},
        {"name": "hotfix", "match_tags": ["hotfix", "urgent"], "tags": ["fixed", "hotfixed"]},
    ]
}


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        pytest.param([], "", id="no-tags"),
        pytest.param("docs,wip", "", id="comma-string-tags"),
        pytest.param(["feature"], "", id="one-match-tag"),
        pytest.param(["hotfix", "urgent"], "", id="two-match-tags-of-one-pipeline"),
        pytest.param(["coded"], "+coded is a pipeline tag", id="pipeline-tag"),
        pytest.param("feature,shipped", "+shipped is a pipeline tag", id="comma-string-pipeline"),
        pytest.param(
            ["feature", "urgent"], "match several pipelines (planned, hotfix)", id="two-pipelines"
        ),
    ],
)
def test_check_add(tags: list[str] | str, reason: str) -> None:
    got = check_add({"uuid": "x", "tags": tags}, RULES)
    assert (reason in got) if reason else got == ""


def test_check_add_without_rules_accepts_anything() -> None:
    assert check_add({"tags": ["coded", "feature"]}, {}) == ""


def test_hooks_are_installed_with_an_absolute_interpreter(hbox: Box) -> None:
    hooks = hbox.sb.task_data / "hooks"
    for name in ("on-add-ttal", "on-modify-ttal"):
        first = (hooks / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("#!/") and "env python" not in first, first
        assert os.access(hooks / name, os.X_OK)
    assert Path(hooks / "ttal-rules.json").exists()


def test_a_hook_that_cannot_load_ttal_says_how_to_fix_it(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """An installed hook whose ttal moved (an upgrade, a new venv) refuses with words that
    say what to do, not a traceback; `ttal doctor` names it and `--fix` mends it."""
    box = by_hand.idle_box(make_box, tmp_path)
    uuid = box.add("Hooked", "project:api")
    box.ttal("go", uuid, check=True)
    assert box.task(uuid, "modify", "+coded").returncode == 0  # sh decides this one
    hook = box.sb.task_data / "hooks" / "ttal-hook.py"
    text = hook.read_text(encoding="utf-8")
    moved = re.sub(r"(?m)^TTAL_PKG = .*$", f"TTAL_PKG = {str(tmp_path / 'gone')!r}", text)
    assert moved != text
    hook.write_text(moved, encoding="utf-8")

    refused = box.task(uuid, "modify", "-coded")  # a refusal: Python words it
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "this hook cannot load ttal" in said and "ttal doctor --fix" in said, said
    assert "Traceback" not in said
    doctor = box.ttal("doctor")
    assert "ttal-hook.py" in doctor.stdout + doctor.stderr
    box.ttal("doctor", "--fix", check=True)
    again = box.task(uuid, "modify", "-coded")
    assert again.returncode != 0 and "cannot load ttal" not in again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
