"""Cost's pure parts and its store: usage lines as Claude Code 2.1.328 and Codex 0.171 write
them (shapes copied from files the real programs wrote against the scripted servers),
prices, amounts, the config keys, reading a growing file, counting a reply once."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from ttal.adapters.runtimes.transcripts import read_new
from ttal.adapters.store.state import State
from ttal.adapters.store.usage import Cursor, UsageSession
from ttal.config.parse import parse_config
from ttal.core.costs import USD, Cost, Price, Usage, level, parse_amount, price_of
from ttal.core.prices import DEFAULT_PRICES
from ttal.core.usage_lines import claude_usage, codex_usage
from ttal.errors import ConfigError


def claude_line(msg: str, model: str = "claude-sonnet-4-5-20250929", **usage: int) -> str:
    counts = {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
              "output_tokens": 5, "service_tier": "standard", **usage}  # fmt: skip
    return json.dumps({"type": "assistant", "timestamp": "2026-12-02T10:49:56.850Z",
                       "sessionId": "s1", "requestId": "req_fake",
                       "message": {"id": msg, "model": model, "usage": counts}})  # fmt: skip


def codex_count(total: int, last: int) -> str:
    def usage(n: int) -> dict[str, int]:
        return {"input_tokens": n - 5 * n // 105, "cached_input_tokens": 0,
                "cache_write_input_tokens": 0, "output_tokens": 5 * n // 105,
                "reasoning_output_tokens": 0, "total_tokens": n}  # fmt: skip

    info = {"total_token_usage": usage(total), "last_token_usage": usage(last)}
    return json.dumps({"timestamp": "2026-12-02T10:51:05.609Z", "type": "event_msg",
                       "payload": {"type": "token_count", "info": info}})  # fmt: skip


TURN_CONTEXT = json.dumps({"timestamp": "2026-12-02T10:51:05.469Z", "type": "turn_context",
                           "payload": {"model": "gpt-5-codex", "cwd": "/w"}})  # fmt: skip


def test_claude_lines_give_each_reply_keyed_by_its_message_id() -> None:
    lines = [
        json.dumps({"type": "user", "message": {"role": "user", "content": "hi"}}),
        claude_line("msg_1", input_tokens=1200, output_tokens=340,
                    cache_read_input_tokens=5000, cache_creation_input_tokens=800),
        claude_line("msg_1", input_tokens=1200, output_tokens=340),  # a second content block
        claude_line("msg_2", model="<synthetic>"),  # Claude Code's own notice: no tokens
        '{"type": "assistant", "message": {"id": "msg_3", "model": "claude-opus-5-5", "usa',
        "not json at all",
    ]  # fmt: skip
    found = claude_usage(lines)
    assert [(u.key, u.model) for u in found] == [("claude:msg_1", "claude-sonnet-4-5-20250929")] * 2
    first = found[0]
    assert (first.input, first.output, first.cache_read, first.cache_write) == (
        1200,
        340,
        5000,
        800,
    )
    assert first.tokens == 7340 and first.at == 1796208596.85


def test_codex_usage_records_count_once_and_token_counts_are_the_fallback() -> None:
    record = json.dumps({"timestamp": "2026-12-02T10:51:05.531Z", "type": "token_usage_record",
                         "payload": {"response_id": "resp_1", "usage": {
                             "input_tokens": 2000, "cached_input_tokens": 1500,
                             "cache_write_input_tokens": 0, "output_tokens": 150,
                             "total_tokens": 2150}}})  # fmt: skip
    found, state = codex_usage([TURN_CONTEXT, record, codex_count(2150, 2150)], {}, "s1")
    assert [(u.key, u.model, u.input, u.cache_read, u.output) for u in found] == [
        ("codex:resp_1", "gpt-5-codex", 500, 1500, 150)]  # fmt: skip
    assert state["records"] is True and state["model"] == "gpt-5-codex"

    # An older rollout, token counts only: the growth of the running total, each total once
    # (Codex repeats a count when only its rate limits changed), read over two passes.
    found, state = codex_usage([TURN_CONTEXT, codex_count(105, 105), codex_count(105, 105)],
                               {}, "s1")  # fmt: skip
    more, state = codex_usage([codex_count(210, 105), codex_count(50, 50)], state, "s1")
    usages = found + more
    assert [u.key for u in usages] == ["codex:s1:total:105", "codex:s1:total:210",
                                       "codex:s1:total:50"]  # fmt: skip
    assert [u.tokens for u in usages] == [105, 105, 50]  # a total that fell: its last reply
    assert {u.model for u in usages} == {"gpt-5-codex"}


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [("$5", 5.0, "usd"), ("$0.50", 0.5, "usd"), ("12usd", 12.0, "usd"), ("2000000", 2e6, "tokens"),
     ("500k", 5e5, "tokens"), ("2M", 2e6, "tokens"), ("2M tokens", 2e6, "tokens"),
     ("1_000", 1000.0, "tokens")],
    ids=["dollars", "cents", "usd-suffix", "plain", "k", "M", "M-tokens", "underscore"],
)  # fmt: skip
def test_amounts(text: str, value: float, unit: str) -> None:
    amount = parse_amount(text)
    assert (amount.value, amount.unit) == (value, unit)


BAD = {"empty": "", "dollar": "$", "word": "abc", "negative": "-5", "zero": "$0", "unit": "5x",
       "nan": "nan", "huge": "1e99"}  # fmt: skip


@pytest.mark.parametrize("text", BAD.values(), ids=BAD.keys())
def test_bad_amounts(text: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_amount(text)


def test_prices_match_the_model_or_its_undated_id_never_a_neighbour() -> None:
    assert price_of("claude-sonnet-4-5-20250929", DEFAULT_PRICES) == Price(3, 15, 0.3, 3.75)
    assert price_of("claude-sonnet-4-20250514", DEFAULT_PRICES) == Price(3, 15, 0.3, 3.75)
    assert price_of("gpt-5-codex", DEFAULT_PRICES) == Price(1.25, 10, 0.125, 1.25)
    assert price_of("gpt-5.5-pro", DEFAULT_PRICES) is None  # not gpt-5.5's price
    assert price_of("claude-sonnet-9", DEFAULT_PRICES) is None
    cost = Cost()
    cost.add("claude-sonnet-4-5", (1_000_000, 100_000, 0, 0), DEFAULT_PRICES["claude-sonnet-4-5"])
    assert cost.label() == "$4.50" and cost.known
    cost.add("mystery", (500, 0, 0, 0), None)  # counted, never priced
    assert cost.tokens == 1_100_500 and cost.unpriced == 500 and cost.label() == "$4.50+?"
    assert cost.as_dict()["usd"] is None and cost.as_dict()["usd_known_part"] == 4.5
    assert [level(s, 100) for s in (79.9, 80, 99.9, 100, 250)] == [
        "ok", "warn", "warn", "over", "over"]  # fmt: skip


def config(text: str) -> Any:
    return parse_config(text, Path("/etc/ttal.yaml"))


def test_config_prices_override_and_budgets() -> None:
    cfg = config("prices:\n  Claude-Sonnet-4-5-20250929: {input: 1, output: 2}\n"
                 "  local-llm: {input: 0, output: 0}\n"
                 "limits:\n  max_workers: 4\n  budget: {task: $5, project_day: 20M}\n")  # fmt: skip
    assert cfg.prices["claude-sonnet-4-5"] == Price(1, 2, 1, 1)  # unset cache kinds: input's
    assert cfg.prices["local-llm"] == Price(0, 0, 0, 0) and "gpt-5" in cfg.prices
    assert cfg.budget.task.value == 5 and cfg.budget.task.unit == USD
    assert cfg.budget.project_day.value == 2e7 and cfg.budget.fleet_day is None
    assert cfg.limits.max_workers == 4 and not config("").budget.any


@pytest.mark.parametrize(
    ("text", "said"),
    [("prices: {m: {input: 1}}", "prices.m.output: missing"),
     ("prices: {m: {input: -1, output: 1}}", "prices.m.input: expected dollars per million"),
     ("prices: {m: {input: 1, output: 1, cache: 1}}", "prices.m.cache: unknown key"),
     ("prices: {m: {input: .nan, output: 1}}", "prices.m.input: expected dollars"),
     ("limits: {budget: {task: lots}}", "limits.budget.task: 'lots' is not an amount"),
     ("limits: {budget: {task: [1]}}", "limits.budget.task: expected an amount"),
     ("limits: {budget: {daily: $5}}", "limits.budget.daily: unknown key"),
     ("limits: {budget: $5}", "limits.budget: expected a mapping")],
    ids=["no-output", "negative", "unknown-kind", "nan", "word", "list", "scope", "flat"],
)  # fmt: skip
def test_bad_cost_config_names_file_and_key(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(text)
    assert err.value.message.startswith("/etc/ttal.yaml: ") and said in err.value.message
    assert err.value.hint


def test_a_growing_file_is_read_in_whole_lines_and_again_when_replaced(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2')  # the second line is being written
    first = read_new(path, 0, 0)
    assert first.lines == ['{"a": 1}'] and first.offset == 9 and first.restarted
    with path.open("ab") as handle:
        handle.write(b'}\n{"c": 3}\n')
    second = read_new(path, first.inode, first.offset)
    assert second.lines == ['{"b": 2}', '{"c": 3}'] and not second.restarted
    assert read_new(path, second.inode, second.offset).lines == []
    replaced = tmp_path / "new.jsonl"
    replaced.write_bytes(b'{"d": 4}\n')
    os.replace(replaced, path)  # a new inode: read from its start
    third = read_new(path, second.inode, second.offset)
    assert third.lines == ['{"d": 4}'] and third.restarted


def test_a_reply_read_twice_counts_once(tmp_path: Path) -> None:
    state = State(tmp_path)
    session = UsageSession("w-1", "sid", "claude", "/h", "uuid-1", "api", "implement", "worker", 0)
    state.register_session(session)
    early = Usage("claude:msg_1", "claude-sonnet-4-5", 10.0, 100, 1)  # streamed: 1 output
    late = Usage("claude:msg_1", "claude-sonnet-4-5", 10.0, 100, 40)
    state.record_usage("w-1", "sid", Cursor("/h/t", 1, 50), [(early, session)])
    state.record_usage("w-1", "sid", Cursor("/h/t", 1, 90), [(late, session), (early, session)])
    assert state.usage_counts("task = ?", ("uuid-1",)) == [("uuid-1", "claude-sonnet-4-5", 100,
                                                             40, 0, 0)]  # fmt: skip
    assert state.cursor("w-1", "sid", "/h/t") == Cursor("/h/t", 1, 90)
    assert [s.name for s in state.sessions_to_read()] == ["w-1"]
    state.session_done("w-1", "sid")
    assert state.sessions_to_read() == []
    state.register_session(session)  # resumed: its file is read on
    assert [s.name for s in state.sessions_to_read()] == ["w-1"]


def test_a_claude_session_is_read_with_its_subagents_pass_by_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claude Code 2.1.328 writes a subagent's conversation beside its session's:
    `<project dir>/<session id>/subagents/agent-<id>.jsonl`."""
    from ttal.core.pipeline import Caller
    from ttal.engine import usage
    from ttal.engine.app import App

    app = App(config(f"state_dir: {tmp_path / 'state'}\n"), Caller())
    home = tmp_path / "claude"
    main = home / "projects" / "-w-api" / "sid-1.jsonl"
    sub = main.parent / "sid-1" / "subagents" / "agent-a1.jsonl"
    sub.parent.mkdir(parents=True)
    usage.register(app, "w-1", "claude", "sid-1", {"CLAUDE_CONFIG_DIR": str(home)}, "u1",
                   "api", "implement", "worker")  # fmt: skip
    assert usage.read_all(app, {"w-1"}) == 0  # no transcript yet
    main.write_text(claude_line("msg_1", input_tokens=100) + "\n", encoding="utf-8")
    sub.write_text(claude_line("msg_s1", input_tokens=40) + "\n", encoding="utf-8")
    assert usage.read_all(app, {"w-1"}) == 2
    assert usage.read_all(app, {"w-1"}) == 0  # nothing new: nothing read again
    with main.open("a", encoding="utf-8") as handle:
        handle.write(claude_line("msg_2", input_tokens=7) + "\n" + claude_line("msg_3")[:30])
    assert usage.read_all(app, set()) == 1  # the half-written line waits
    assert usage.cost_for(app, "u1").input == 147
    assert [s.name for s in app.state.sessions_to_read()] == ["w-1"]  # ended, not settled
    monkeypatch.setattr(usage, "SETTLE", 0.0)
    assert usage.read_all(app, set()) == 0 and app.state.sessions_to_read()  # a line waits
    with main.open("a", encoding="utf-8") as handle:
        handle.write(claude_line("msg_3")[30:] + "\n")
    assert usage.read_all(app, set()) == 1 and app.state.sessions_to_read() == []  # done
    usage.register(app, "w-1", "claude", "sid-1", {"CLAUDE_CONFIG_DIR": str(home)}, "u1")
    assert [s.name for s in app.state.sessions_to_read()] == ["w-1"]  # resumed: read on
    assert usage.read_all(app, {"w-1"}) == 0 and usage.cost_for(app, "u1").input == 157


READER = """
import sys
from pathlib import Path
from ttal.config.parse import parse_config
from ttal.core.pipeline import Caller
from ttal.engine import usage
from ttal.engine.app import App
app = App(parse_config(sys.argv[1], Path("/etc/ttal.yaml")), Caller())
Path(sys.argv[3]).touch()  # started
passes = 0
while not Path(sys.argv[2]).exists() or passes == 0:
    usage.read_all(app, {"w-1"})
    passes += 1
print(passes)
"""


def test_readers_racing_on_a_growing_file_count_each_reply_once(tmp_path: Path) -> None:
    """Four processes read one session's file (as `ttal watch` and `ttal cost` may) while the
    runtime appends to it: every reply is counted, none twice."""
    import subprocess
    import sys

    from ttal.core.pipeline import Caller
    from ttal.engine import usage
    from ttal.engine.app import App

    text = f"state_dir: {tmp_path / 'state'}\n"
    app = App(config(text), Caller())
    app.run_dir.mkdir(parents=True)
    usage.register(app, "w-1", "scripted", "", {}, "u1", "api", "implement", "worker")
    transcript = app.run_dir / "w-1.usage.jsonl"
    transcript.write_text("", encoding="utf-8")
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([sys.executable, "-c", READER, text, str(stop),
                                 str(tmp_path / f"started-{i}")], stdout=subprocess.PIPE)
               for i in range(4)]  # fmt: skip
    wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 4, 60, "the readers")
    with transcript.open("a", encoding="utf-8") as handle:
        for n in range(1, 1501):
            handle.write(claude_line(f"msg_{n}", input_tokens=n, output_tokens=1) + "\n")
            if n % 50 == 0:
                handle.flush()
                time.sleep(0.02)
            if n % 50 == 25:
                handle.write(claude_line(f"msg_{n + 1}")[:40])  # half a line, for a moment
                handle.flush()
                handle.write(claude_line(f"msg_{n + 1}", input_tokens=n + 1, output_tokens=1)[40:])
                handle.write("\n")  # the loop writes it again next: once all the same
    stop.touch()
    passes = [int(r.communicate(timeout=120)[0]) for r in readers]
    assert [r.returncode for r in readers] == [0, 0, 0, 0] and min(passes) > 1, passes
    usage.read_all(app, {"w-1"})
    cost = usage.cost_for(app, "u1")
    assert (cost.input, cost.output) == (1500 * 1501 // 2, 1500)
    model = "claude-sonnet-4-5-20250929"
    counts = app.state.usage_counts("task = ?", ("u1",))
    assert counts == [("u1", model, 1500 * 1501 // 2, 1500, 0, 0)]
