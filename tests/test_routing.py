"""A stage assigned to a role goes to an idle agent of that role, or waits in a queue and
is assigned, in order, when one becomes idle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.by_hand import annotations, idle_box
from tests.conftest import Box, wait_for
from ttal.errors import Exit

DESIGNER = """\
- wait: "is yours"
# Busy until the test has seen it busy and queued the second task (a fixed sleep was too
# short on a loaded machine); 120 s at most, so a broken test cannot hang it.
- sh: "for i in $(seq 2400); do [ -e GATE ] && exit 0; sleep 0.05; done; exit 1"
- ttal: [go, --note, "Plan: first"]
- wait: "is yours"
- ttal: [go, --note, "Plan: second"]
- idle: true
"""


def designer_box(make_box: Callable[..., Box], tmp_path: Path) -> Box:
    box = idle_box(make_box, tmp_path)
    script = tmp_path / "designer.yaml"
    script.write_text(DESIGNER.replace("GATE", str(tmp_path / "gate")), encoding="utf-8")
    cfg = yaml.safe_load(box.sb.config.read_text(encoding="utf-8"))
    cfg["runtimes"]["scripted-designer"] = {"kind": "scripted", "script": str(script)}
    cfg["agents"]["dana"] = {"role": "designer", "runtime": "scripted-designer"}
    implement = dict(cfg["pipelines"]["default"]["stages"][0])
    cfg["pipelines"]["designed"] = {
        "match_tags": ["design"],
        "stages": [
            {"name": "plan", "assign": "designer", "tag": "planned", "gate": "auto"},
            implement,
            {"name": "merge", "kind": "merge", "tag": "merged", "gate": "auto"},
        ],
    }
    box.sb.config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return box


def agent_row(box: Box, name: str) -> dict[str, object]:
    rows = json.loads(box.ttal("agents", "--json", check=True).stdout)
    return next(r for r in rows if r["agent"] == name)


def test_role_stage_queues_while_busy_and_is_assigned_when_idle(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = designer_box(make_box, tmp_path)
    box.ttal("up", "dana", check=True)
    first = box.add("Design the cache", "project:api", "+design")
    second = box.add("Design the queue", "project:api", "+design")

    proc = box.ttal("go", first, check=True)
    assert "assigned stage plan to dana" in proc.stdout
    assert box.get(first)["ttal_owner"] == "dana"
    assert agent_row(box, "dana")["state"] == "busy"

    waiting = box.ttal("go", second)  # every designer is busy: queued, not an error
    assert waiting.returncode == Exit.WAITING, waiting.stdout + waiting.stderr
    assert "queued (position 1)" in waiting.stdout + waiting.stderr
    assert not box.get(second).get("ttal_owner")
    (tmp_path / "gate").touch()

    # dana finishes the first plan; going idle gets it the queued one
    wait_for(lambda: "planned" in box.get(first).get("tags", []), what="first plan done")
    wait_for(lambda: box.get(second).get("ttal_owner") == "dana", what="queued task assigned")
    wait_for(lambda: "planned" in box.get(second).get("tags", []), what="second plan done")
    assert any("Plan: first" in n for n in annotations(box, first))
    assert any("Plan: second" in n for n in annotations(box, second))
    # after the plan, the pipeline goes on: a worker takes the implement stage
    wait_for(lambda: box.get(first).get("ttal_session"), what="worker spawned for first")
    assert f"w-{first[:8]}" in box.sessions()
