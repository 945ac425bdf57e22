"""Who is calling: read from the environment ttal sets on every session it starts.

A shell without TTAL_AGENT is a person. This guards against mistakes by well-behaved agents,
not against a hostile process running as the same user: any process can set these variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ttal.core.pipeline import Caller

ROLES = ("manager", "worker", "reviewer")
VARS = ("TTAL_AGENT", "TTAL_ROLE", "TTAL_TASK")  # what current_caller reads


def without_identity(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a process ttal starts as itself, not as its caller (who may be an agent
    allowed to drive only its own task)."""
    return {k: v for k, v in env.items() if k not in VARS}


def current_caller(env: Mapping[str, str] | None = None) -> Caller:
    env = os.environ if env is None else env
    agent = env.get("TTAL_AGENT", "").strip()
    if not agent:
        return Caller()
    role = env.get("TTAL_ROLE", "").strip()
    return Caller(
        name=agent, role=role if role in ROLES else "manager", task=env.get("TTAL_TASK", "")
    )


def session_env(agent: str, role: str, task: str = "", config_path: str = "") -> dict[str, str]:
    """The identity and tool environment a ttal session starts with."""
    import sys
    from pathlib import Path

    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "/usr/bin:/bin")
    env = {
        "TTAL_AGENT": agent,
        "TTAL_ROLE": role,
        "TTAL_TASK": task,
        "PATH": path if path.startswith(bin_dir + ":") else f"{bin_dir}:{path}",
        "HOME": os.environ.get("HOME", "/root"),
    }
    if config_path:
        env["TTAL_CONFIG"] = config_path
    for key in ("TASKRC", "TASKDATA", "LANG", "LC_ALL", "TERM"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env
