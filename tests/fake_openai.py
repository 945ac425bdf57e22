"""A scripted model server: the real `codex` program, driven turn by turn by a test.

    server = FakeOpenAI().start()
    server.script("worker", Shell("echo hi > f.txt"), Shell("git commit -qam x"), Say("ok"))
    codex -c model_provider=fake -c 'model_providers.fake={base_url="<server.url("worker")>", ...}'

The OpenAI Responses API (`POST /v1/responses`, streamed), the only wire protocol Codex
0.171 speaks. Each agent gets its own route (a path prefix of the base URL, so one server
serves a whole team) and its own queue of turns. A turn is an `exec_command` call (Codex's
shell tool) or a text reply; Codex runs the command and sends its output in the next
request, which takes the next turn. A step can wait for a trigger (`On("text", ...)`): its
turns are served only once the last user message contains that text, e.g. a message
`ttal send` typed into the pane. With no turn left, the reply is the text "done" and the
turn ends.

Only the main loop consumes turns: a request that offers tools. Codex's side requests (the
thread title, asked with a JSON schema and no tools) get a harmless answer. Every request
body is kept in `requests` for the test to assert on.

Each main-loop reply reports token usage in its `response.completed`: by default 100 input
(none cached) and 5 output tokens, or what `usage(route, ...)` set for that route. `sent`
lists (route, usage) of every main-loop reply, so a test can sum what the server billed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests import fake_model
from tests.fake_model import FakeModel, ModelHandler, On, Say

__all__ = ["FakeOpenAI", "On", "Request", "Say", "Shell"]

MODEL = "gpt-5-codex"
DEFAULT_USAGE = {"input_tokens": 100, "cached_tokens": 0, "output_tokens": 5}


@dataclass(frozen=True)
class Shell:
    command: str
    delay: float = 0.0  # seconds before the reply starts: holds the turn open (busy)


Turn = Shell | Say


@dataclass
class Request:
    route: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    ts: float = field(default_factory=time.time)

    @property
    def main_loop(self) -> bool:
        return bool(self.body.get("tools"))

    @property
    def session_id(self) -> str:
        """Codex's own id for the conversation (its `session-id` header)."""
        return self.headers.get("session-id", "")

    def items(self) -> list[dict[str, Any]]:
        found = self.body.get("input")
        return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []

    def user_texts(self) -> list[str]:
        return [text_of(i) for i in self.items() if i.get("role") == "user"]

    def last_user_text(self) -> str:
        """The text of the last user message (tool outputs left out)."""
        texts = self.user_texts()
        return texts[-1] if texts else ""

    def tool_results(self) -> list[str]:
        """The output of every tool call in the request, oldest first."""
        return [output_of(i) for i in self.items() if i.get("type") == "function_call_output"]

    def text(self) -> str:
        return json.dumps(self.body)


def text_of(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    parts = [str(c.get("text", "")) for c in content if isinstance(c, dict)] if isinstance(
        content, list) else []  # fmt: skip
    return "\n".join(parts)


def output_of(item: dict[str, Any]) -> str:
    output = item.get("output")
    if isinstance(output, str):
        return output
    return text_of({"content": output})


class _Handler(ModelHandler):
    fake: FakeOpenAI
    request_id_header = "x-request-id"

    def do_GET(self) -> None:
        route, rest = self._split()
        self.fake.record(Request(route, rest, dict(self.headers), {}))
        body = {"object": "list", "data": []} if rest == "models" else {}
        self._send(200, json.dumps(body).encode(), "application/json")

    def do_POST(self) -> None:
        route, rest = self._split()
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(route, rest, headers, self._body())
        if rest != "responses":
            self.fake.record(request)
            self._send(200, b"{}", "application/json")
            return
        usage = DEFAULT_USAGE
        if request.main_loop:
            turn = self._main_loop_turn(request)
            usage = self.fake.usage_of(route)
            self.fake.bill(route, usage)
        else:
            self.fake.record(request)
            turn = Say(json.dumps({"title": "ttal task"}) if _wants_json(request) else "ok")
        self._send(200, sse(turn, next(self.fake.ids), usage), "text/event-stream")


class FakeOpenAI(FakeModel):
    handler = _Handler

    default_usage = DEFAULT_USAGE

    def usage(self, route: str, input: int, output: int, cached: int = 0) -> None:
        """What each later main-loop reply on `route` reports: `input` tokens in all, of
        which `cached` were cache reads (OpenAI counts them inside input), and `output`."""
        self.set_usage(route, {"input_tokens": input, "cached_tokens": cached,
                               "output_tokens": output})  # fmt: skip

    def url(self, route: str) -> str:
        """The base URL for `route`: Codex appends /responses."""
        return f"{super().url(route)}/v1"


def _wants_json(request: Request) -> bool:
    text = request.body.get("text")
    return isinstance(text, dict) and isinstance(text.get("format"), dict)


def sse(turn: Turn | None, n: int, usage: dict[str, int] | None = None) -> bytes:
    return fake_model.sse(_events(turn or Say("done"), n, usage or DEFAULT_USAGE))


def _events(turn: Turn, n: int, tokens: dict[str, int]) -> Iterator[dict[str, Any]]:
    response = {
        "id": f"resp_fake{n}",
        "object": "response",
        "model": MODEL,
        "status": "in_progress",
    }
    yield {"type": "response.created", "response": response}
    if isinstance(turn, Shell):
        arguments = json.dumps({"cmd": turn.command, "yield_time_ms": 30000})
        item: dict[str, Any] = {"type": "function_call", "id": f"fc_fake{n}", "status": "completed",
                                "call_id": f"call_fake{n}", "name": "exec_command",
                                "arguments": arguments}  # fmt: skip
    else:
        content = [{"type": "output_text", "text": turn.text, "annotations": []}]
        item = {"type": "message", "id": f"msg_fake{n}", "role": "assistant",
                "status": "completed", "content": content}  # fmt: skip
        yield {"type": "response.output_item.added", "output_index": 0,
               "item": {**item, "content": [], "status": "in_progress"}}  # fmt: skip
        yield {"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
               "content_index": 0, "delta": turn.text}  # fmt: skip
    yield {"type": "response.output_item.done", "output_index": 0, "item": item}
    usage = {"input_tokens": tokens["input_tokens"],
             "input_tokens_details": {"cached_tokens": tokens["cached_tokens"]},
             "output_tokens": tokens["output_tokens"],
             "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": tokens["input_tokens"] + tokens["output_tokens"]}  # fmt: skip
    yield {"type": "response.completed",
           "response": {**response, "status": "completed", "usage": usage}}  # fmt: skip
