"""Which taskrc Taskwarrior reads, and whether ttal's UDAs and hooks are set up in it.

Taskwarrior reads `$TASKRC`, else `~/.taskrc`, else `$XDG_CONFIG_HOME/task/taskrc` (default
`~/.config/task/taskrc`); `$TASKDATA` wins over `data.location`. ttal.yaml's `taskwarrior:`
block, where it names them, wins over both (ttal passes them to every `task` call).

Before a write, `ready` checks that the UDAs are declared in what Taskwarrior reads (an
undeclared `ttal_session:w-1` is taken as description text) and the hooks are where it will
run them. The answer of `task _show` is cached in the state dir, keyed by the taskrc, the
files it includes (path, mtime, size) and the data settings: a warm check is a few stats.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ttal.errors import ConfigError

HOOK_NAMES = ("on-add-ttal", "on-modify-ttal")  # sh: the fast path
PY_HOOK = "ttal-hook.py"  # the full check the sh hooks fall back to
STAMP = "taskrc-ready.json"
_TRUE = {"1", "on", "yes", "y", "true"}


def find_taskrc(configured: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """The taskrc Taskwarrior reads (or would create: `~/.taskrc` when there is none)."""
    env = os.environ if env is None else env
    if configured:
        return configured
    if env.get("TASKRC"):
        return Path(env["TASKRC"]).expanduser()
    home_rc = Path.home() / ".taskrc"
    if home_rc.exists():
        return home_rc
    xdg = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "task" / "taskrc"
    return xdg if xdg.exists() else home_rc


def find_data(configured: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The data dir when known without reading the taskrc: ttal.yaml's, else $TASKDATA."""
    env = os.environ if env is None else env
    if configured:
        return configured
    return Path(env["TASKDATA"]).expanduser() if env.get("TASKDATA") else None


def _files(rc: Path, depth: int = 0) -> list[Path]:
    """The taskrc and the files it includes (to a small depth), existing or not."""
    found = [rc]
    if depth > 4:
        return found
    try:
        lines = rc.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return found
    for line in lines:
        words = line.split("#", 1)[0].split(None, 1)
        if len(words) == 2 and words[0] == "include":
            path = Path(words[1].strip()).expanduser()
            found += _files(path if path.is_absolute() else rc.parent / path, depth + 1)
    return found


def _key(rc: Path, data: Path | None) -> list[object]:
    stats: list[object] = []
    for path in _files(rc):
        try:
            st = path.stat()
            stats.append([str(path), st.st_mtime_ns, st.st_size])
        except OSError:
            stats.append([str(path), None, None])
    return [str(rc), str(data or ""), stats]


def check_show(shown: str, udas: Iterable[str]) -> tuple[list[str], bool, Path | None]:
    """From `task _show`: the missing UDAs, whether hooks are on, and the hooks dir."""
    values = dict(line.partition("=")[::2] for line in shown.splitlines() if "=" in line)
    missing = [name for name in udas if f"uda.{name}.type" not in values]
    enabled = values.get("hooks", "1").strip().lower() in _TRUE
    where = values.get("hooks.location") or (
        str(Path(values["data.location"]).expanduser() / "hooks")
        if values.get("data.location") else ""
    )  # fmt: skip
    return missing, enabled, Path(where).expanduser() if where else None


def _hooks_missing(directory: Path) -> list[str]:
    return [name for name in (*HOOK_NAMES, PY_HOOK)
            if not os.access(directory / name, os.X_OK)]  # fmt: skip


def ready(
    rc: Path, data: Path | None, state_dir: Path, udas: Iterable[str], show: Callable[[], str]
) -> None:
    """Raise ConfigError (exit 10) unless ttal's UDAs are declared and its hooks installed.
    `show` runs `task _show`: only when the taskrc, its includes or the data settings changed
    since the last check that passed."""
    key, stamp = _key(rc, data), state_dir / STAMP
    try:
        cached = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if cached.get("key") == key and cached.get("hooks"):
        hooks = Path(cached["hooks"])
    else:
        missing, enabled, found = check_show(show(), udas)
        if missing:
            names = ", ".join(missing[:3]) + (", …" if len(missing) > 3 else "")
            raise ConfigError(
                f"Taskwarrior (taskrc {rc}) does not declare ttal's fields ({names}): it would "
                "write them into the task's description; nothing was changed",
                hint="run `ttal doctor --fix` (it adds them to the taskrc Taskwarrior reads)",
            )
        if not enabled or found is None:
            raise ConfigError(
                f"Taskwarrior's hooks are off (hooks=0 in {rc}): ttal's rules would not run on "
                "people's edits; nothing was changed",
                hint="set hooks=1 in your taskrc, then run `ttal doctor --fix`",
            )
        hooks = found
        if not _hooks_missing(hooks):
            _remember(stamp, {"key": key, "hooks": str(hooks)})
    if absent := _hooks_missing(hooks):
        raise ConfigError(
            f"ttal's Taskwarrior hooks are not installed in {hooks} (missing {', '.join(absent)}), "
            "where Taskwarrior runs them; nothing was changed",
            hint="run `ttal doctor --fix`",
        )


def _remember(stamp: Path, data: dict[str, object]) -> None:
    """Cache a check that passed; one that cannot be cached is only made again next time."""
    tmp = stamp.with_name(f".{STAMP}.{os.getpid()}")
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(stamp)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
