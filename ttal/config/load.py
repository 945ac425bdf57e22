"""Finding and loading ttal.yaml: the path (TTAL_CONFIG or XDG), and a JSON copy of a file
that parsed, so the hot paths skip PyYAML.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ttal.config.model import Config
from ttal.config.parse import Parser, parse_config
from ttal.errors import ConfigError


def config_path() -> Path:
    """TTAL_CONFIG wins; else $XDG_CONFIG_HOME/ttal/ttal.yaml."""
    if env := os.environ.get("TTAL_CONFIG"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "ttal" / "ttal.yaml"


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    if not path.exists():
        raise ConfigError(
            f"no ttal config at {path}",
            hint="run `ttal init` to write a commented starter, or set TTAL_CONFIG",
        )
    cached = _cached_raw(path)
    if cached is not None:
        return Parser(path).config(cached[1])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None
    config = parse_config(text, path)
    _store_raw(path, text)
    return config


# Agents run `ttal go`, `send` and `report` all the time; importing PyYAML costs ~25 ms of
# each (bench/). A config that parsed and validated is kept as JSON, keyed by its stat.
def _cache_file(path: Path) -> Path:
    import hashlib

    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ttal"
    return root / f"config-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]}.json"


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino]


def _cached_raw(path: Path) -> tuple[list[int], Any] | None:
    import json

    try:
        data = json.loads(_cache_file(path).read_text(encoding="utf-8"))
        if data["stamp"] == _stamp(path):
            return data["stamp"], data["raw"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _store_raw(path: Path, text: str) -> None:
    import json

    import yaml

    try:
        stamp = _stamp(path)
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        blob = json.dumps({"stamp": stamp, "raw": raw})
        if json.loads(blob)["raw"] != raw:  # e.g. a date or a non-string key: not cacheable
            return
        target = _cache_file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_text(blob, encoding="utf-8")
        tmp.replace(target)
    except (OSError, ValueError, TypeError, yaml.YAMLError):
        pass  # only a cache
