"""A scripted model server: the real `claude` program, driven turn by turn by a test.

    server = FakeAnthropic().start()
    server.script("worker", Bash("echo hi > f.txt"), Bash("git commit -qam x"), Say("ok"))
    env = {"ANTHROPIC_BASE_URL": server.url("worker"), "ANTHROPIC_API_KEY": KEY}

Each agent gets its own route (a path prefix of the base URL, so one server serves a whole
team) and its own queue of turns. A turn is a Bash tool call or a text reply; Claude Code
runs the command and sends its result in the next request, which takes the next turn. A
step can wait for a trigger (`On("text", ...)`): its turns are served only once the last
user message contains that text, e.g. a message `ttal send` typed into the pane. With no
turn left, the reply is the text "done" and the turn ends.

Only the main loop consumes turns: a request carrying tools, streamed. Claude Code's side
requests (titles, token counts, probes) get a harmless answer. Every request body is kept
in `requests` for the test to assert on.

Each main-loop reply reports token usage: by default 10 input and 5 output tokens, or what
`usage(route, ...)` set for that route (as the real API does: input and cache counts in
`message_start`, the output count in `message_delta`). `sent` lists (route, usage) of every
reply, so a test can sum what the server billed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests import fake_model
from tests.fake_model import FakeModel, ModelHandler, On, Say

__all__ = ["Bash", "FakeAnthropic", "On", "Request", "Say"]

MODEL = "claude-sonnet-4-5-20250929"
DEFAULT_USAGE = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 0,
                 "cache_creation_input_tokens": 0}  # fmt: skip


@dataclass(frozen=True)
class Bash:
    command: str
    delay: float = 0.0  # seconds before the reply starts: holds the turn open (busy)


Turn = Bash | Say


@dataclass
class Request:
    route: str
    method: str
    path: str
    body: dict[str, Any]
    ts: float = field(default_factory=time.time)

    @property
    def main_loop(self) -> bool:
        return bool(self.body.get("tools")) and bool(self.body.get("stream"))

    def last_user_text(self) -> str:
        """The text of the last user message (tool results left out)."""
        messages = self.body.get("messages") or []
        users = [m for m in messages if m.get("role") == "user"]
        return text_of(users[-1]) if users else ""

    def tool_results(self) -> list[str]:
        """The output of every tool result in the request, oldest first."""
        found = []
        for message in self.body.get("messages") or []:
            content = message.get("content")
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_result":
                    found.append(text_of({"content": block.get("content")}))
        return found


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


class _Handler(ModelHandler):
    fake: FakeAnthropic

    def do_HEAD(self) -> None:
        self._send(200, b"", "application/json")

    def do_GET(self) -> None:
        self._send(200, b"{}", "application/json")

    def do_POST(self) -> None:
        route, rest = self._split()
        request = Request(route, "POST", "/v1/" + rest, self._body())
        usage = self.fake.usage_of(route)
        if rest == "messages/count_tokens":
            self.fake.record(request)
            self._send(200, json.dumps({"input_tokens": 100}).encode(), "application/json")
        elif rest != "messages":
            self.fake.record(request)
            self._send(200, b"{}", "application/json")
        elif request.main_loop:
            turn = self._main_loop_turn(request)
            self.fake.bill(route, usage)
            self._send(200, sse(turn, next(self.fake.ids), usage), "text/event-stream")
        else:
            self.fake.record(request)
            self._side_reply(request)

    def _side_reply(self, request: Request) -> None:
        if request.body.get("stream"):
            self._send(200, sse(Say("ok"), next(self.fake.ids)), "text/event-stream")
        else:
            self._send(200, json.dumps(message(Say("ok"), 0)).encode(), "application/json")


class FakeAnthropic(FakeModel):
    """Serves `url(route)`, to which Claude Code appends /v1/messages."""

    handler = _Handler

    default_usage = DEFAULT_USAGE

    def usage(self, route: str, input: int, output: int, cache_read: int = 0,
              cache_write: int = 0) -> None:  # fmt: skip
        """What each later main-loop reply on `route` reports it used."""
        self.set_usage(route, {"input_tokens": input, "output_tokens": output,
                               "cache_read_input_tokens": cache_read,
                               "cache_creation_input_tokens": cache_write})  # fmt: skip


def message(turn: Turn, n: int) -> dict[str, Any]:
    """A whole (non-streamed) message, for side requests."""
    text = turn.text if isinstance(turn, Say) else ""
    return {"id": f"msg_fake{n}", "type": "message", "role": "assistant", "model": MODEL,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}  # fmt: skip


def sse(turn: Turn | None, n: int, usage: dict[str, int] | None = None) -> bytes:
    return fake_model.sse(_events(turn or Say("done"), n, usage or DEFAULT_USAGE))


def _events(turn: Turn, n: int, usage: dict[str, int]) -> Iterator[dict[str, Any]]:
    start = {**message(Say(""), n), "content": [], "stop_reason": None,
             "usage": {**usage, "output_tokens": 1}}  # fmt: skip
    yield {"type": "message_start", "message": start}
    if isinstance(turn, Bash):
        tool = {"type": "tool_use", "id": f"toolu_fake{n}", "name": "Bash", "input": {}}
        arguments = json.dumps({"command": turn.command, "description": "scripted step"})
        yield {"type": "content_block_start", "index": 0, "content_block": tool}
        delta = {"type": "input_json_delta", "partial_json": arguments}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        yield {"type": "content_block_start", "index": 0, "content_block": block}
        delta = {"type": "text_delta", "text": turn.text}
        stop = "end_turn"
    yield {"type": "content_block_delta", "index": 0, "delta": delta}
    yield {"type": "content_block_stop", "index": 0}
    yield {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
           "usage": {"output_tokens": usage["output_tokens"]}}  # fmt: skip
    yield {"type": "message_stop"}
