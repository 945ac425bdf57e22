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
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "gpt-5-codex"


@dataclass(frozen=True)
class Shell:
    command: str
    delay: float = 0.0  # seconds before the reply starts: holds the turn open (busy)


@dataclass(frozen=True)
class Say:
    text: str
    delay: float = 0.0


Turn = Shell | Say


@dataclass
class On:
    """Turns served once the last user message contains `trigger` ("" for at once)."""

    trigger: str
    turns: list[Turn]
    fired: bool = False


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


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.steps: dict[str, list[On]] = {}
        self.served: list[tuple[str, Turn | None]] = []  # (route, turn) per main-loop reply
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.httpd: ThreadingHTTPServer | None = None

    def start(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"fake": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def url(self, route: str) -> str:
        """The base URL for `route`: Codex appends /responses."""
        assert self.httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{route}/v1"

    def script(self, route: str, *turns: Turn) -> None:
        """Turns served in order from the next main-loop request of `route`."""
        self.on(route, "", *turns)

    def on(self, route: str, trigger: str, *turns: Turn) -> None:
        with self.lock:
            self.steps.setdefault(route, []).append(On(trigger, list(turns)))

    def of(self, route: str, main_loop: bool = True) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.route == route and r.main_loop >= main_loop]

    def pending(self, route: str) -> int:
        """Turns not yet served on `route`."""
        with self.lock:
            return sum(len(step.turns) for step in self.steps.get(route, []))

    def next_turn(self, request: Request) -> Turn | None:
        with self.lock:
            self.requests.append(request)
            turn = self._take(request)
            self.served.append((request.route, turn))
            return turn

    def _take(self, request: Request) -> Turn | None:
        steps = self.steps.get(request.route, [])
        while steps and steps[0].fired and not steps[0].turns:
            steps.pop(0)
        if not steps:
            return None
        step = steps[0]
        if not step.fired and step.trigger not in request.last_user_text():
            return None
        step.fired = True
        turn = step.turns.pop(0) if step.turns else None
        if not step.turns:
            steps.pop(0)
        return turn

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet under pytest
        pass

    def do_GET(self) -> None:
        route, rest = self._split()
        self.fake.record(Request(route, rest, dict(self.headers), {}))
        body = {"object": "list", "data": []} if rest == "models" else {}
        self._send(200, json.dumps(body).encode(), "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        route, rest = self._split()
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(route, rest, headers, body if isinstance(body, dict) else {})
        if rest != "responses":
            self.fake.record(request)
            self._send(200, b"{}", "application/json")
            return
        if request.main_loop:
            turn = self.fake.next_turn(request)
            if turn is not None and turn.delay:
                time.sleep(turn.delay)
        else:
            self.fake.record(request)
            turn = Say(json.dumps({"title": "ttal task"}) if _wants_json(request) else "ok")
        self._send(200, sse(turn, next(self.fake.ids)), "text/event-stream")

    def _split(self) -> tuple[str, str]:
        path = self.path.split("?", 1)[0]
        route, _, rest = path.lstrip("/").partition("/v1/")
        return route, rest

    def _send(self, code: int, data: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)


def _wants_json(request: Request) -> bool:
    text = request.body.get("text")
    return isinstance(text, dict) and isinstance(text.get("format"), dict)


def sse(turn: Turn | None, n: int) -> bytes:
    return "".join(_event(data) for data in _events(turn or Say("done"), n)).encode()


def _event(data: dict[str, Any]) -> str:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"


def _events(turn: Turn, n: int) -> Iterator[dict[str, Any]]:
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
    usage = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": 105}  # fmt: skip
    yield {"type": "response.completed",
           "response": {**response, "status": "completed", "usage": usage}}  # fmt: skip
