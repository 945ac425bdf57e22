"""Install ttal's Taskwarrior hooks and keep their rules file in step with the config."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import ttal
from ttal.adapters.taskrc import HOOK_NAMES, PY_HOOK
from ttal.adapters.taskwarrior import Taskwarrior
from ttal.config.model import Config
from ttal.core.tagrules import PERSON_ONLY_UDAS, RULES_FILE
from ttal.errors import ExternalError

SH_LIB = "ttal-hook.sh"  # the sh hooks' functions
RULES_SH = "ttal-rules.sh"  # the rules' tokens, for the sh hooks
SH_SAFE = re.compile(r"^[A-Za-z0-9_.:+-]+$")  # a tag that is safe to quote in sh as it is


def hook_source_dir() -> Path:
    pkg = Path(ttal.__file__).resolve().parent
    bundled = pkg / "_hooks"  # wheel installs
    return bundled if bundled.is_dir() else pkg.parent / "hooks"


def rules_dict(cfg: Config) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(rules_json(cfg))
    return data


def rules_json(cfg: Config) -> str:
    pipelines = [
        {
            "name": p.name,
            "match_tags": list(p.match_tags),
            "tags": list(p.tags),
            "approve_tags": list(p.approve_tags),
        }
        for p in cfg.pipelines.values()
    ]
    return json.dumps({"pipelines": pipelines}, indent=1, sort_keys=True) + "\n"


def rules_sh(cfg: Config) -> str:
    """The rules as sh variables for ttal-hook.sh (pipelines are numbered in config order,
    like ttal-rules.json's list)."""
    pipelines = list(cfg.pipelines.values())
    all_tags = sorted({t for p in pipelines for t in p.tags})
    match_tags = {t for p in pipelines for t in p.match_tags}
    modify = sorted({*all_tags, *PERSON_ONLY_UDAS})
    words = [*modify, *match_tags]
    if not all(SH_SAFE.match(t) for t in words):  # config_parse allows none, but be sure
        return "ttal_fast=no\n"
    default = next((str(n) for n, p in enumerate(pipelines, 1) if not p.match_tags), "")
    lines = [
        "# Written by ttal with ttal-rules.json; sourced by on-add-ttal and on-modify-ttal.",
        "ttal_fast=yes",
        "ttal_modify_tokens='" + " ".join(f'"{t}"' for t in modify) + "'",
        f"ttal_all_tags='{' '.join(all_tags)}'",
        f"ttal_pipelines='{' '.join(str(n) for n in range(1, len(pipelines) + 1))}'",
        f"ttal_default='{default}'",
    ]
    for n, p in enumerate(pipelines, 1):
        lines += [
            f"ttal_p{n}_match='{' '.join(p.match_tags)}'",
            f"ttal_p{n}_tags='{' '.join(p.tags)}'",
            f"ttal_p{n}_approve='{' '.join(p.approve_tags)}'",
        ]
    return "\n".join(lines) + "\n"


def rendered_hook(name: str) -> str:
    """The hooks with an absolute interpreter (a pyenv shim adds ~130 ms per modify,
    libraries.md §1.8) and the path of the ttal package baked in. -S skips site: stdlib only."""
    text = (hook_source_dir() / name).read_text(encoding="utf-8")
    python = str(Path(sys.executable).absolute())
    if name in HOOK_NAMES:
        marker = "TTAL_PY=python3  # replaced on install: an absolute interpreter"
        return text.replace(marker, f"TTAL_PY='{python}'")
    body = text.split("\n", 1)[1]
    pkg_parent = str(Path(ttal.__file__).resolve().parent.parent)
    marker = "TTAL_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))"
    body = body.replace(marker, f"TTAL_PKG = {pkg_parent!r}")
    return f"#!{python} -S\n{body}"


def hooks_dir(tw: Taskwarrior) -> Path:
    shown = tw.call("_show")
    values = dict(line.partition("=")[::2] for line in shown.out.splitlines() if "=" in line)
    if values.get("hooks.location"):
        return Path(values["hooks.location"]).expanduser()
    data = values.get("data.location") or str(Path.home() / ".task")
    return Path(data).expanduser() / "hooks"


def wanted_files(cfg: Config) -> dict[str, str]:
    files = {name: rendered_hook(name) for name in (*HOOK_NAMES, PY_HOOK)}
    files[RULES_FILE] = rules_json(cfg)
    files[RULES_SH] = rules_sh(cfg)
    files[SH_LIB] = (hook_source_dir() / SH_LIB).read_text(encoding="utf-8")
    return files


def stale_files(cfg: Config, directory: Path) -> list[str]:
    return list(_stale(wanted_files(cfg), directory))


def _stale(wanted: dict[str, str], directory: Path) -> dict[str, str]:
    """The wanted files whose copy in `directory` is missing or differs."""
    stale = {}
    for name, text in wanted.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale[name] = text
    return stale


def remember_dir(cfg: Config, directory: Path) -> None:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    (cfg.state_dir / "hooks-dir").write_text(str(directory), encoding="utf-8")


def refresh_rules(cfg: Config) -> None:
    """Keep the hook's rules in step with ttal.yaml's pipelines without a `task` call:
    an edited pipeline would otherwise be enforced with the old tag order."""
    try:
        directory = Path((cfg.state_dir / "hooks-dir").read_text(encoding="utf-8").strip())
        current = (directory / RULES_FILE).read_text(encoding="utf-8")
    except OSError:
        return  # not installed yet: `ttal doctor` reports it
    wanted = rules_json(cfg)
    if current == wanted:
        return
    try:  # the tokens first: with new rules but old tokens, sh could let a new tag through
        _replace(directory / RULES_SH, rules_sh(cfg))
        _replace(directory / RULES_FILE, wanted)
    except OSError as err:  # a read-only Taskwarrior: was a traceback (test_bad_input)
        raise ExternalError(
            f"cannot update the hook's rules in {directory}: {err.strerror}; nothing was changed",
            hint="make it writable, then run `ttal doctor --fix`",
        ) from None


def _replace(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    tmp.replace(path)  # atomic: a concurrent `task` never sees half a file


def install(cfg: Config, directory: Path) -> list[str]:
    """Write what differs. Returns the names written."""
    directory.mkdir(parents=True, exist_ok=True)
    remember_dir(cfg, directory)
    written = []
    for name, text in _stale(wanted_files(cfg), directory).items():
        executable = name in (*HOOK_NAMES, PY_HOOK)
        _replace(directory / name, text, 0o755 if executable else 0o644)
        written.append(name)
    return written
