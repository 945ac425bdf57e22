"""The machine's processes, read from /proc: who is alive, and whose children are whose.

gc uses it to count the locks of the agents it kills as stale in the same run.
"""

from __future__ import annotations

import os
from pathlib import Path

from ttal.adapters import poll


def children() -> dict[int, list[int]]:
    """pid -> its children's pids, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return children


def family(pid: int, children: dict[int, list[int]]) -> set[int]:
    """A session's pane process and its descendants: the lock sweep counts their locks as
    stale, in the dry run too, so it shows exactly what the real run does."""
    if not pid:
        return set()
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo += children.get(current, [])
    return found


def wait_gone(pids: set[int], timeout: float = 3.0) -> None:
    """The killed agents' processes take a moment to exit; the lock sweep after this must
    see them gone, or their last locks look held until the next run."""
    poll.until(lambda: not any(alive(pid) for pid in pids), timeout, interval=0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:  # a zombie holds no lock and does no work
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def started(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22): with
    the pid, it names one process (a pid alone is reused); "" when there is no such
    process, or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return ""
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else ""
