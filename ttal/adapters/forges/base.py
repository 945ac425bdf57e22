"""The interface every forge adapter offers: open a pull request (or find the one that
exists), read its state, read its comments since the last look, merge it, close it.

The engine (engine/forge.py) speaks only these terms; `ttal.core.forge` holds the types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ttal.core.forge import Check, PullState


@dataclass(frozen=True)
class Comment:
    """A person's word on a pull request: an inline comment, a comment in its
    conversation, or a review with a body."""

    id: str  # unique on the forge, with its source: "comment:123", "talk:7", "review:456"
    kind: str  # comment, changes (changes requested), review
    author: str
    body: str
    path: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.path and self.line else self.path


class Forge(Protocol):
    name: str  # "github"

    def auth_problem(self) -> str:
        """ "" when the user's login works; else what is wrong, in the tool's words."""
        ...

    def find(self, branch: str) -> PullState | None:
        """The newest pull request from `branch`, in any state."""
        ...

    def open(self, branch: str, base: str, title: str, body: str) -> PullState: ...

    def status(self, number: int) -> PullState: ...

    def failed_log(self, check: Check) -> str:
        """The log of a failed check's failing steps (the engine keeps the last lines)."""
        ...

    def comments_since(self, number: int, seen: set[str]) -> list[Comment]:
        """The reviews with something to say, inline comments and conversation comments
        (a bot's left out, when the forge says who is one) whose ids are not in `seen`."""
        ...

    def merge(self, number: int, method: str, head: str, delete_branch: bool) -> None:
        """Merge only while the PR's head is `head`."""
        ...

    def close(self, number: int, comment: str) -> None: ...
