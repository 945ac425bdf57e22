"""Pull requests on GitHub with the real `gh`: against a scripted GitHub (tests/fake_github.py)
that records what gh sent, and a bare repository as the remote ttal really pushes to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Box
from tests.forge_helpers import approved_task, forge_box, needs_gh
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
