"""ttal's own writes skip the hook's process start but not its rules: the same
ttal.core.tagrules checks run in-process, and the same refusals come back."""

from __future__ import annotations

import pytest

from tests.conftest import Box
from ttal.adapters.task_hooks import rules_dict
from ttal.adapters.taskwarrior import HookRejected, Taskwarrior
from ttal.config.load import load_config


def adapter(box: Box, with_rules: bool) -> Taskwarrior:
    rules = rules_dict(load_config(box.sb.config)) if with_rules else None
    return Taskwarrior(box.sb.taskrc, box.sb.task_data, box.sb.state_dir / "locks", rules)


@pytest.mark.parametrize("with_rules", [True, False], ids=["in-process", "hook"])
def test_same_refusals_either_way(
    box: Box, with_rules: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tw = adapter(box, with_rules)
    uuid = tw.add("Guarded", "project:api")
    with pytest.raises(HookRejected, match=r"\+lgtm needs \+reviewing first"):
        tw.add_tags(uuid, ["coded", "lgtm"])
    assert "tags" not in box.get(uuid)  # nothing half-applied

    tw.add_tags(uuid, ["coded"])
    with pytest.raises(HookRejected, match=r"pipeline tag \+coded is never removed"):
        tw.modify(uuid, "-coded")
    monkeypatch.setenv("TTAL_AGENT", "w-1")
    monkeypatch.setenv("TTAL_ROLE", "worker")
    with pytest.raises(HookRejected, match="only a person may change ttal_approved"):
        tw.set(uuid, ttal_approved="merge")
    monkeypatch.delenv("TTAL_AGENT")
    monkeypatch.delenv("TTAL_ROLE")
    with pytest.raises(HookRejected, match="only ttal adds it"):
        tw.add("Early", "project:api", "+merged")
    assert box.get(uuid)["tags"] == ["coded"]
