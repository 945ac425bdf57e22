"""`ttal doctor [--fix]`: check task, git, tmux, the UDAs, the hooks and the projects, and
(doctor_setup.py) Taskwarrior's data, the git identity and the runtimes' versions.

`--fix` declares the UDAs (in an include file) and installs the hooks. Both are idempotent.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ttal.adapters import git, task_hooks
from ttal.adapters.proc import run
from ttal.adapters.taskrc import find_data, find_taskrc
from ttal.adapters.taskwarrior import UDAS
from ttal.commands.doctor_setup import Check as Check
from ttal.commands.doctor_setup import forges, git_identity, runtime_version, task_data
from ttal.engine.app import App

MIN_VERSIONS = {"task": (2, 6), "git": (2, 38), "tmux": (3, 0)}


def doctor(app: App, fix: bool) -> list[Check]:
    checks = [_program(name) for name in MIN_VERSIONS]
    if not all(c.ok for c in checks):
        return checks
    checks.append(_taskrc(app, fix))
    if not checks[-1].ok:
        return checks
    checks.append(task_data(app))
    checks.append(_udas(app, fix))
    checks.append(_hooks(app, fix))
    checks += [_project(app, name) for name in sorted(app.cfg.projects)]
    checks.append(git_identity(app))
    checks += forges(app)
    checks += _runtimes(app)
    checks.append(_server())
    return checks


def _server() -> Check:
    """Informational: without a server every command still works, only slower."""
    from ttal.commands import server

    info = server.status()
    if not info.enabled:
        return Check("server", True, "off (TTAL_SERVER=off): every command starts cold")
    if info.refused:
        where = Path(info.socket).parent
        return Check("server", True, f"not used: {where} is not yours alone (a link, another "
                     "user's, or open to others); commands run in-process; remove it, or set "
                     "TTAL_RUNTIME_DIR to a folder of yours")  # fmt: skip
    if info.running:
        detail = f"running (pid {info.pid}, {info.commands_served} commands served)"
    else:
        detail = "not running; the next `ttal go`/`send`/`status` starts it"
    return Check("server", True, f"{detail}; socket {info.socket}")


def _version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _program(name: str) -> Check:
    if not shutil.which(name):
        pkg = "taskwarrior" if name == "task" else name
        return Check(name, False, f"not installed; on Debian/Ubuntu: apt-get install {pkg}")
    flag = "-V" if name == "tmux" else "--version"
    text = run([name, flag]).out.strip()
    found, need = _version(text), MIN_VERSIONS[name]
    ok = found >= need
    need_text = ".".join(map(str, need))
    return Check(name, ok, text if ok else f"{text}: ttal needs {need_text} or newer")


def _taskrc(app: App, fix: bool) -> Check:
    # The file Taskwarrior reads: never a new ~/.taskrc that would shadow $TASKRC's or the XDG one.
    rc = find_taskrc(app.cfg.taskrc)
    if rc.exists():
        return Check("taskrc", True, str(rc))
    if not fix:
        return Check("taskrc", False, f"{rc} does not exist; `ttal doctor --fix` creates it")
    rc.parent.mkdir(parents=True, exist_ok=True)
    data = find_data(app.cfg.task_data) or Path.home() / ".task"
    rc.write_text(f"# created by ttal doctor --fix\ndata.location={data}\n", encoding="utf-8")
    return Check("taskrc", True, str(rc), fixed=f"created {rc}")


def _uda_include(app: App) -> Path:
    return app.cfg.state_dir / "ttal.taskrc"


def _udas(app: App, fix: bool) -> Check:
    have = set(app.tw.call("_udas").out.split())
    missing = [name for name in UDAS if name not in have]
    if not missing:
        return Check("udas", True, f"{len(UDAS)} ttal UDAs declared")
    if not fix:
        return Check("udas", False, f"missing {', '.join(missing[:3])}…; run `ttal doctor --fix`")
    include = _uda_include(app)
    include.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# ttal's UDAs; written by `ttal doctor --fix`."]
    for name, (kind, label) in UDAS.items():
        lines += [f"uda.{name}.type={kind}", f"uda.{name}.label={label}"]
    include.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc = find_taskrc(app.cfg.taskrc)
    text = rc.read_text(encoding="utf-8")
    sep = "" if text.endswith("\n") or not text else "\n"
    if "#" in str(include):
        # Taskwarrior reads everything after a '#' in its rc as a comment: `include` of
        # this path broke every `task` command. The UDAs go into the taskrc itself.
        rc.write_text(f"{text}{sep}" + "\n".join(lines) + "\n", encoding="utf-8")
    elif f"include {include}" not in text:
        rc.write_text(f"{text}{sep}include {include}\n", encoding="utf-8")
    return Check("udas", True, f"{len(UDAS)} ttal UDAs declared", fixed=f"wrote {include}")


def _hooks(app: App, fix: bool) -> Check:
    directory = task_hooks.hooks_dir(app.tw)
    stale = task_hooks.stale_files(app.cfg, directory)
    enabled = "hooks=0" not in app.tw.call("_show").out.splitlines()
    if not stale and enabled:
        return Check("hooks", True, f"installed in {directory}")
    if not fix:
        what = "hooks are off (hooks=0)" if not enabled else f"missing or stale: {', '.join(stale)}"
        return Check("hooks", False, f"{what} in {directory}; run `ttal doctor --fix`")
    written = task_hooks.install(app.cfg, directory)
    fixed = f"wrote {', '.join(written)}" if written else ""
    if not enabled:
        return Check("hooks", False, "hooks=0 in your taskrc; set hooks=1", fixed=fixed)
    return Check("hooks", True, f"installed in {directory}", fixed=fixed)


def _project(app: App, name: str) -> Check:
    project = app.cfg.projects[name]
    try:
        git.check_repo(project.repo, project.base)
    except Exception as err:
        return Check(f"project {name}", False, str(err))
    return Check(f"project {name}", True, f"{project.repo} ({project.base})")


def _runtimes(app: App) -> list[Check]:
    used = {app.cfg.agents[a].runtime for a in app.cfg.agents}
    checks = []
    for name in sorted(used):
        runtime = app.cfg.runtimes[name]
        if runtime.kind in ("claude", "codex"):
            found = shutil.which(runtime.command)
            detail = found or f"{runtime.command} not on PATH (needed by agents using {name})"
            if found:
                detail += f"; {runtime_version(runtime.kind, runtime.command)}"
            checks.append(Check(f"runtime {name}", bool(found), detail))
        elif runtime.kind == "scripted" and runtime.script and not runtime.script.exists():
            checks.append(Check(f"runtime {name}", False, f"script {runtime.script} missing"))
    return checks
