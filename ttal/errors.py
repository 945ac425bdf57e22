"""One error root. Every expected failure is a TtalError with a message for people.

The message says what happened, what was kept safe, and what to do next. The exit code
tells scripts which kind of refusal it was.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    ERROR = 1  # generic expected failure
    USAGE = 2  # bad command-line usage (typer's own code)
    BUG = 3  # an unexpected exception: a bug in ttal
    CONFIG = 10  # ttal.yaml missing or invalid
    NOT_FOUND = 11  # unknown task, agent or project
    PRECONDITION = 12  # dirty tree, no commits, gate not passed...
    FORBIDDEN = 13  # the caller's identity may not do this
    CONFLICT = 14  # merge conflict or base moved: refused, nothing changed
    EXTERNAL = 15  # task/git/tmux failed or is missing
    WAITING = 16  # nothing to do yet: waiting for a reviewer, a human, or a worker
    READ_ONLY = 17  # the worktree under review changed during the round: verdict refused
    INTERRUPTED = 130


class TtalError(Exception):
    """An expected failure. `str(err)` is shown to the user as-is."""

    exit_code: Exit = Exit.ERROR

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UsageError(TtalError):
    exit_code = Exit.USAGE


class ConfigError(TtalError):
    exit_code = Exit.CONFIG


class NotFound(TtalError):
    exit_code = Exit.NOT_FOUND


class PreconditionFailed(TtalError):
    exit_code = Exit.PRECONDITION


class Forbidden(TtalError):
    exit_code = Exit.FORBIDDEN


class MergeConflict(TtalError):
    exit_code = Exit.CONFLICT


class BaseMoved(MergeConflict):
    """The base branch moved while ttal merged: nothing changed; not the branch's fault."""


class ChangesGone(PreconditionFailed):
    """The branch is an ancestor of the base, but a later commit took its changes out."""


class ExternalError(TtalError):
    exit_code = Exit.EXTERNAL


class Waiting(TtalError):
    exit_code = Exit.WAITING


class ReviewTouched(TtalError):
    """A review lead's verdict on a worktree that changed during its round."""

    exit_code = Exit.READ_ONLY
