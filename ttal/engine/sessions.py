"""Start agent sessions on ttal's tmux server: prompt files, identity, runtime launch."""

from __future__ import annotations

import json
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttal.adapters.identity import session_env
from ttal.adapters.runtimes import launch
from ttal.adapters.runtimes.launch import (
    LaunchSpec,
    fork_argv,
    launch_argv,
    resume_argv,
    shell_line,
)
from ttal.config.model import Runtime
from ttal.engine import budgets, usage
from ttal.engine.app import App
from ttal.errors import PreconditionFailed


@dataclass(frozen=True)
class SessionPlan:
    name: str  # tmux session name, also the agent's TTAL_AGENT
    role: str  # worker, reviewer, manager
    runtime: str  # runtime name from the config
    workdir: Path
    prompt: str
    task: str = ""  # task uuid for workers and reviewers
    meta: dict[str, Any] | None = None  # extra facts for the prompt sidecar (.json)
    read_only: bool = False
    fork_from: str = ""  # a runtime session id: start as a copy of that conversation


def start_session(app: App, plan: SessionPlan, running: set[str] | None = None) -> str:
    """Start the session unless it already runs (`running`: the sessions, if the caller just
    listed them). Returns the runtime session id used ("" when it was already running)."""
    if plan.name in running if running is not None else app.tmux.has(plan.name):
        return ""
    if not plan.workdir.is_dir():  # tmux would start it in the caller's directory instead
        raise PreconditionFailed(
            f"{plan.workdir} is not a directory, so {plan.name} was not started; nothing "
            "else was changed",
            hint="run `ttal go` again to recreate the worktree, or `ttal doctor` for a "
            "configured path",
        )
    budgets.refuse_spawn(app, plan.name, plan.task, str((plan.meta or {}).get("project", "")))
    app.run_dir.mkdir(parents=True, exist_ok=True)
    prompt_file = app.run_dir / f"{plan.name}.prompt.md"
    prompt_file.write_text(plan.prompt, encoding="utf-8")
    sidecar = {"role": plan.role, "agent": plan.name, **(plan.meta or {})}
    prompt_file.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")
    runtime = app.cfg.runtimes[plan.runtime]
    env = {**session_env(plan.name, plan.role, plan.task, str(app.cfg.path)), **runtime.env}
    session_id, resume = _session_id(app, plan, runtime, env)
    spec = LaunchSpec(
        prompt=plan.prompt,
        prompt_file=prompt_file,
        workdir=plan.workdir,
        read_only=plan.read_only,
        session_id=plan.fork_from or session_id,
        log_file=app.run_dir / f"{plan.name}.log",
        settings_file=app.run_dir / f"{plan.name}.settings.json",
        session_id_file=_session_id_file(app, plan.name),
    )
    env.update(launch.session_env(runtime, spec))
    if plan.fork_from:
        argv = fork_argv(runtime, spec, session_id)
    else:
        argv = (resume_argv if resume else launch_argv)(runtime, spec)
    exit_file = app.run_dir / f"{plan.name}.exit"
    exit_file.unlink(missing_ok=True)
    launch.prepare(runtime, spec, env)
    # Before the launch: Codex's SessionStart hook replaces it with Codex's own id.
    _session_id_file(app, plan.name).write_text(session_id, encoding="utf-8")
    meta = plan.meta or {}  # before the start: a crash after it must not lose its usage
    usage.register(app, plan.name, runtime.kind, session_id, env, plan.task,
                   str(meta.get("project", "")), str(meta.get("stage", "")), plan.role)  # fmt: skip
    app.tmux.new_session(plan.name, plan.workdir, env, shell_line(argv, exit_file))
    if resume:
        app.state.event("session-resumed", plan.task, "ttal", f"{plan.name} {session_id}")
    return session_id


def _session_id(
    app: App, plan: SessionPlan, runtime: Runtime, env: dict[str, str]
) -> tuple[str, bool]:
    """The id the session runs under, and whether it resumes it. A session that ended
    (killed, crashed, its machine rebooted) continues its conversation when the runtime
    saved it: same id, nothing the agent learnt is lost. A fork gets a new id."""
    if plan.fork_from and not launch.can_resume(runtime, plan.fork_from, env):
        raise PreconditionFailed(
            f"no saved conversation {plan.fork_from} to fork for {plan.name}; nothing was started",
            hint="only a Claude Code or Codex session that has taken a turn can be forked",
        )
    previous = "" if plan.fork_from else recorded_session_id(app, plan.name)
    if launch.can_resume(runtime, previous, env):
        return previous, True
    return str(uuidlib.uuid4()), False


def recorded_session_id(app: App, name: str) -> str:
    """The runtime session id `name` last ran (every role: workers also have it in their
    task's ttal_session_id), or ""."""
    try:
        return _session_id_file(app, name).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _session_id_file(app: App, name: str) -> Path:
    return app.run_dir / f"{name}.session-id"
