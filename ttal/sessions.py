"""Start agent sessions on ttal's tmux server: prompt files, identity, runtime launch."""

from __future__ import annotations

import json
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttal.app import App
from ttal.identity import session_env
from ttal.runtimes import LaunchSpec, launch_argv, shell_line


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


def start_session(app: App, plan: SessionPlan, running: set[str] | None = None) -> str:
    """Start the session unless it already runs (`running`: the sessions, if the caller just
    listed them). Returns the runtime session id used ("" when it was already running)."""
    if plan.name in running if running is not None else app.tmux.has(plan.name):
        return ""
    app.run_dir.mkdir(parents=True, exist_ok=True)
    prompt_file = app.run_dir / f"{plan.name}.prompt.md"
    prompt_file.write_text(plan.prompt, encoding="utf-8")
    sidecar = {"role": plan.role, "agent": plan.name, **(plan.meta or {})}
    prompt_file.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")
    session_id = str(uuidlib.uuid4())
    runtime = app.cfg.runtimes[plan.runtime]
    spec = LaunchSpec(
        prompt=plan.prompt,
        prompt_file=prompt_file,
        workdir=plan.workdir,
        read_only=plan.read_only,
        session_id=session_id,
        log_file=app.run_dir / f"{plan.name}.log",
    )
    exit_file = app.run_dir / f"{plan.name}.exit"
    exit_file.unlink(missing_ok=True)
    command = shell_line(launch_argv(runtime, spec), exit_file)
    env = session_env(plan.name, plan.role, plan.task, str(app.cfg.path))
    app.tmux.new_session(plan.name, plan.workdir, env, command)
    return session_id


def worker_session_name(uuid: str) -> str:
    return f"w-{uuid[:8]}"


def reviewer_session_name(uuid: str, stage: str) -> str:
    return f"r-{uuid[:8]}-{stage}"
