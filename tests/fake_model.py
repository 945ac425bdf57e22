"""What the scripted model servers have in common (tests/fake_anthropic.py for Claude Code,
tests/fake_openai.py for Codex): the queues of turns per route, the record of every
request, and the HTTP scaffolding. Each fake adds its protocol: its `Request` (which
requests are the main loop, the last user text, the tool results), its tool-call turn and
its stream of events.

A route is a path prefix of the base URL, so one server serves a whole team. A step can wait
for a trigger (`On("text", ...)`): its turns are served only once the last user message
contains that text, e.g. a message `ttal send` typed into the pane.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Protocol, Self


@dataclass(frozen=True)
class Say:
    text: str
    delay: float = 0.0  # seconds before the reply starts: holds the turn open (busy)


class Request(Protocol):
    route: str

    @property
    def main_loop(self) -> bool: ...

    def last_user_text(self) -> str: ...


@dataclass
class On:
    """Turns served once the last user message contains `trigger` ("" for at once)."""

    trigger: str
    turns: list[Any]
    fired: bool = False


class FakeModel:
    """A scripted model server; a subclass names its request `handler` (a ModelHandler)
    and `default_usage`, the token counts a reply reports unless `usage` set others."""

    handler: type[ModelHandler]
    default_usage: ClassVar[dict[str, int]]

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.steps: dict[str, list[On]] = {}
        self.served: list[tuple[str, Any]] = []  # (route, turn) per main-loop reply
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.httpd: ThreadingHTTPServer | None = None
        self.usages: dict[str, dict[str, int]] = {}  # route -> what its replies report
        self.sent: list[tuple[str, dict[str, int]]] = []  # (route, usage) per reply

    def set_usage(self, route: str, usage: dict[str, int]) -> None:
        with self.lock:
            self.usages[route] = usage

    def usage_of(self, route: str) -> dict[str, int]:
        with self.lock:
            return dict(self.usages.get(route) or self.default_usage)

    def bill(self, route: str, usage: dict[str, int]) -> None:
        with self.lock:
            self.sent.append((route, usage))

    def billed(self, route: str) -> dict[str, int]:
        """The sum of the usage every main-loop reply on `route` reported."""
        with self.lock:
            total = dict.fromkeys(self.default_usage, 0)
            for where, usage in self.sent:
                for key in total if where == route else ():
                    total[key] += usage.get(key, 0)
            return total

    def start(self) -> Self:
        handler = type("Handler", (self.handler,), {"fake": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def url(self, route: str) -> str:
        assert self.httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{route}"

    def script(self, route: str, *turns: Any) -> None:
        """Turns served in order from the next main-loop request of `route`."""
        self.on(route, "", *turns)

    def on(self, route: str, trigger: str, *turns: Any) -> None:
        with self.lock:
            self.steps.setdefault(route, []).append(On(trigger, list(turns)))

    def of(self, route: str, main_loop: bool = True) -> list[Any]:
        with self.lock:
            return [r for r in self.requests if r.route == route and r.main_loop >= main_loop]

    def pending(self, route: str) -> int:
        """Turns not yet served on `route`."""
        with self.lock:
            return sum(len(step.turns) for step in self.steps.get(route, []))

    def next_turn(self, request: Request) -> Any:
        with self.lock:
            self.requests.append(request)
            turn = self._take(request)
            self.served.append((request.route, turn))
            return turn

    def _take(self, request: Request) -> Any:
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


class ModelHandler(BaseHTTPRequestHandler):
    fake: FakeModel
    protocol_version = "HTTP/1.1"
    request_id_header = "request-id"

    def log_message(self, format: str, *args: Any) -> None:  # quiet under pytest
        pass

    def _body(self) -> dict[str, Any]:
        """The request's JSON object; {} for anything else."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _split(self) -> tuple[str, str]:
        """(route, the path after /v1/)."""
        path = self.path.split("?", 1)[0]
        route, _, rest = path.lstrip("/").partition("/v1/")
        return route, rest

    def _main_loop_turn(self, request: Request) -> Any:
        """The route's next turn, after its delay."""
        turn = self.fake.next_turn(request)
        if turn is not None and turn.delay:
            time.sleep(turn.delay)
        return turn

    def _send(self, code: int, data: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header(self.request_id_header, "req_fake")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def sse(events: Iterable[dict[str, Any]]) -> bytes:
    """Server-sent events, each named by its `type`."""
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()
