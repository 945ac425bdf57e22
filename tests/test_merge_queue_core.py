"""The merge queue's pure decisions (ttal/core/merge_queue.py): what one run takes, how a
red batch splits, and that bisection stays within its bound for every culprit position."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttal.config.model import Project
from ttal.config.parse import parse_config
from ttal.core import merge_queue as rules
from ttal.core.merge_queue import Queued
from ttal.errors import ConfigError


def simulate(size: int, bad: set[int], batch: int) -> tuple[int, list[int], list[int]]:
    """Drive the queue's rules over `size` branches, `bad` of them breaking the check;
    returns (check runs, merged, returned), as engine/check_runs applies the rules."""
    queue = [Queued(str(i)) for i in range(size)]
    runs, merged, returned = 0, [], []
    while taken := rules.take(queue, batch):
        runs += 1
        rest = queue[len(taken) :]
        if not {int(t) for t in taken} & bad:
            merged += [int(t) for t in taken]
            queue = rest
        elif len(taken) == 1:
            returned.append(int(taken[0]))
            queue = rest
        else:
            caps = rules.caps_after_red(taken)
            queue = [Queued(t, caps[t]) for t in taken] + rest
    return runs, merged, returned


@pytest.mark.parametrize("size", [4, 8, 16], ids=["4", "8", "16"])
def test_a_green_batch_costs_one_run(size: int) -> None:
    assert simulate(size, set(), size) == (1, list(range(size)), [])


@pytest.mark.parametrize("size", [2, 4, 8, 16], ids=["2", "4", "8", "16"])
def test_one_culprit_anywhere_is_found_within_the_bound(size: int) -> None:
    for culprit in range(size):
        runs, merged, returned = simulate(size, {culprit}, size)
        assert returned == [culprit]
        assert sorted(merged) == [i for i in range(size) if i != culprit]
        assert runs - 1 <= rules.extra_runs_bound(size), (size, culprit, runs)


def test_the_bound_is_two_log2() -> None:
    assert [rules.extra_runs_bound(n) for n in (1, 2, 4, 8, 16, 5)] == [0, 2, 4, 6, 8, 6]


def test_take_respects_batch_and_the_heads_cap() -> None:
    queue = [Queued("a", 2), Queued("b", 2), Queued("c"), Queued("d")]
    assert rules.take(queue, 8) == ["a", "b"]
    assert rules.take([Queued("c"), Queued("d"), Queued("e")], 2) == ["c", "d"]
    assert rules.take([], 4) == []


def test_halves_keep_queue_order() -> None:
    assert rules.halves(["a", "b", "c"]) == (["a", "b"], ["c"])
    assert rules.caps_after_red(["a", "b", "c"]) == {"a": 2, "b": 2, "c": 1}


def test_texts_name_the_run_the_log_and_the_last_lines() -> None:
    assert rules.last_lines("a\nb\nc\n", 2) == "b\nc"
    assert rules.verdict("timed out", -9, 2.4) == "timed out after 2s"
    note = rules.returned_note("abcd1234", 7, "failed (exit 1) after 3s", "/s/run-7.log", "E")
    assert "check run #7" in note and "/s/run-7.log" in note and note.endswith("queues again.")
    assert "check run #3 passed (make test)" in rules.merge_message("Merge x", 3, "make test")


def _project(tmp_path: Path, keys: str) -> Project:
    text = f"projects:\n  web:\n    repo: {tmp_path}\n{keys}"
    return parse_config(text, tmp_path / "ttal.yaml").projects["web"]


def test_merge_queue_keys_parse_with_defaults(tmp_path: Path) -> None:
    plain = _project(tmp_path, "")
    assert (plain.check, plain.check_timeout, plain.batch, plain.max_checks) == ("", 1800, 1, 1)
    assert not plain.queued
    keys = "    check: make test\n    check_timeout: 90s\n    batch: 8\n    max_checks: 2\n"
    web = _project(tmp_path, keys)
    assert (web.check, web.check_timeout, web.batch, web.max_checks) == ("make test", 90, 8, 2)
    assert web.queued and _project(tmp_path, "    batch: 4\n").queued
    assert _project(tmp_path, "    check_timeout: 1.5h\n").check_timeout == 5400


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ("    check: [make]\n", "projects.web.check"),
        ("    check_timeout: soon\n", "projects.web.check_timeout"),
        ("    check_timeout: 0\n", "projects.web.check_timeout"),
        ("    batch: 0\n", "projects.web.batch"),
        ("    max_checks: true\n", "projects.web.max_checks"),
    ],
    ids=["check-list", "timeout-text", "timeout-zero", "batch-zero", "max-checks-bool"],
)
def test_bad_merge_queue_keys_name_file_key_and_fix(tmp_path: Path, keys: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        _project(tmp_path, keys)
    assert f"ttal.yaml: {named}:" in err.value.message and err.value.hint


def test_a_hold_lifts_when_its_check_or_its_base_changes() -> None:
    held = ("make test", "a" * 40)
    assert rules.lifted(held, held) == ""
    assert "make check" in rules.lifted(held, ("make check", "a" * 40))
    assert "moved to bbbbbbbbbb" in rules.lifted(held, ("make test", "b" * 40))
    assert rules.cannot_run("failed", 127) and rules.cannot_run("failed", 126)
    assert not rules.cannot_run("failed", 1) and not rules.cannot_run("timed out", -9)
    line = rules.held_line("api/main", "mak test", "a" * 40, "failed (exit 127)", 127)
    assert "cannot run" in line and "ttal.yaml" in line and "\n" not in line
