"""The default price table: US dollars per million tokens, for `prices:` to add to or override.

Anthropic's prices are those in Claude Code 2.1.328's own model catalog (the table it prices
its sessions with; cache writes at the 5-minute rate). OpenAI's are its published standard
tier, checked 2026-12-02; OpenAI bills no cache write apart, so it is priced as input.
Prices change: `ttal.yaml` `prices:` wins over this table, and a model missing from both has
its tokens counted and its cost shown as unknown.
"""

from __future__ import annotations

from ttal.core.costs import Price


def _anthropic(input_: float, output: float, cache_read: float) -> Price:
    return Price(input_, output, cache_read, input_ * 1.25)


def _openai(input_: float, output: float, cache_read: float) -> Price:
    return Price(input_, output, cache_read, input_)


_TIER_3_15 = _anthropic(3, 15, 0.3)
_TIER_5_25 = _anthropic(5, 25, 0.5)
_TIER_15_75 = _anthropic(15, 75, 1.5)
_GPT_5 = _openai(1.25, 10, 0.125)

DEFAULT_PRICES: dict[str, Price] = {
    "claude-3-5-haiku": _anthropic(0.8, 4, 0.08),
    "claude-haiku-4-5": _anthropic(1, 5, 0.1),
    "claude-haiku-5-5": _anthropic(0.1, 0.5, 0.01),
    "claude-3-5-sonnet": _TIER_3_15,
    "claude-3-7-sonnet": _TIER_3_15,
    "claude-sonnet-4": _TIER_3_15,
    "claude-sonnet-4-0": _TIER_3_15,
    "claude-sonnet-4-5": _TIER_3_15,
    "claude-sonnet-4-6": _TIER_3_15,
    "claude-sonnet-5": _anthropic(2, 10, 0.2),
    "claude-sonnet-5-5": _anthropic(2, 10, 0.1),
    "claude-opus-4": _TIER_15_75,
    "claude-opus-4-0": _TIER_15_75,
    "claude-opus-4-1": _TIER_15_75,
    "claude-opus-4-5": _TIER_5_25,
    "claude-opus-4-6": _TIER_5_25,
    "claude-opus-4-7": _TIER_5_25,
    "claude-opus-4-8": _TIER_5_25,
    "claude-opus-5": _TIER_5_25,
    "claude-opus-5-5": _anthropic(4, 20, 0.2),
    "gpt-5": _GPT_5,
    "gpt-5-codex": _GPT_5,
    "gpt-5.1": _GPT_5,
    "gpt-5.1-codex": _GPT_5,
    "gpt-5-mini": _openai(0.25, 2, 0.025),
    "gpt-5-nano": _openai(0.05, 0.4, 0.005),
    "gpt-5.4": _openai(2.5, 15, 0.25),
    "gpt-5.4-mini": _openai(0.75, 4.5, 0.075),
    "gpt-5.5": _openai(5, 30, 0.5),
}
