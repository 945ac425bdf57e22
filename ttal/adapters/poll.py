"""The one polling helper: ask until yes or time is up (libtmux's `retry_until`, without
importing libtmux). Every wait on a condition in ttal goes through `until`, so each has a
deadline, and none sleeps past a yes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(condition: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Call `condition` every `interval` seconds until it returns something true, and return
    that; after `timeout` seconds return its last (false) answer. It is always asked once
    more at the deadline, so a slow last interval never turns a yes into a timeout."""
    deadline = time.monotonic() + timeout
    while not (answer := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return answer
