"""Token usage out of the runtimes' own session files, line by line: pure, no I/O.

Claude Code (2.1.328) writes its transcript as JSON lines; each model reply is a line
`{"type": "assistant", "timestamp": ..., "message": {"id", "model", "usage": {input_tokens,
output_tokens, cache_read_input_tokens, cache_creation_input_tokens}}}`. A reply with
several content blocks may be written as several lines with the same message id, so a
reply is keyed by its id, and a fork's copy of its parent's replies is not counted twice.
Lines with the model `<synthetic>` (Claude Code's own notices) carry no tokens.

Codex (0.171) writes a rollout: `turn_context` lines name the model, one
`token_usage_record` line per model response carries its usage (keyed by response id),
and `event_msg` lines of type `token_count` carry the running total. Rollouts without
usage records (older Codex) are counted from the total's growth, keyed by that total.
OpenAI's `input_tokens` include the cached ones; here `input` is the uncached part.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ttal.core.costs import Usage


def claude_usage(lines: list[str]) -> list[Usage]:
    found = []
    for line in lines:
        if '"usage"' not in line:  # most lines (prompts, tool output) are not parsed at all
            continue
        data = _json(line)
        message = data.get("message")
        if data.get("type") != "assistant" or not isinstance(message, dict):
            continue
        usage, model = message.get("usage"), str(message.get("model") or "")
        if not isinstance(usage, dict) or not model or model.startswith("<"):
            continue
        key = str(message.get("id") or data.get("uuid") or "")
        if not key:
            continue
        found.append(Usage(f"claude:{key}", model, _when(data.get("timestamp")),
                           _int(usage, "input_tokens"), _int(usage, "output_tokens"),
                           _int(usage, "cache_read_input_tokens"),
                           _int(usage, "cache_creation_input_tokens")))  # fmt: skip
    return found


def codex_usage(lines: list[str], state: dict[str, Any], session_id: str
                ) -> tuple[list[Usage], dict[str, Any]]:  # fmt: skip
    """The usage in `lines`, and the reader's state to carry to the next lines of the same
    file: the model in use, whether it has usage records, the last running total."""
    state = dict(state)
    found = []
    for line in lines:
        if '"token_' not in line and '"turn_context"' not in line:
            continue  # most lines (messages, tool calls and output) are not parsed at all
        data = _json(line)
        kind, payload = data.get("type"), data.get("payload")
        if not isinstance(payload, dict):
            continue
        at = _when(data.get("timestamp"))
        if kind == "turn_context" and payload.get("model"):
            state["model"] = str(payload["model"])
        elif kind == "token_usage_record" and isinstance(payload.get("usage"), dict):
            state["records"] = True
            key = payload.get("response_id") or f"{session_id}:{data.get('ordinal')}"
            found.append(_openai(f"codex:{key}", state.get("model", ""), at, payload["usage"]))
        elif kind == "event_msg" and payload.get("type") == "token_count":
            usage = _from_total(payload.get("info"), state, session_id, at)
            if usage is not None:
                found.append(usage)
    return found, state


def _from_total(info: Any, state: dict[str, Any], session_id: str, at: float) -> Usage | None:
    if not isinstance(info, dict) or not isinstance(info.get("total_token_usage"), dict):
        return None
    total = info["total_token_usage"]
    before = state.get("total") or {}
    state["total"] = total
    if state.get("records") or _int(total, "total_tokens") == _int(before, "total_tokens"):
        return None  # counted from its record, or a repeat of the last count
    grew = {k: _int(total, k) - _int(before, k) for k in total if isinstance(total[k], int)}
    if any(v < 0 for v in grew.values()):  # the total started again: take the last reply
        last = info.get("last_token_usage")
        grew = last if isinstance(last, dict) else total
    key = f"codex:{session_id}:total:{_int(total, 'total_tokens')}"
    return _openai(key, state.get("model", ""), at, grew)


def _openai(key: str, model: str, at: float, usage: dict[str, Any]) -> Usage:
    cached, written = _int(usage, "cached_input_tokens"), _int(usage, "cache_write_input_tokens")
    uncached = max(0, _int(usage, "input_tokens") - cached - written)
    return Usage(key, model, at, uncached, _int(usage, "output_tokens"), cached, written)


def _json(line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except ValueError:
        return {}  # a line being written, or not ours: skipped, never fatal
    return data if isinstance(data, dict) else {}


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _when(stamp: Any) -> float:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
