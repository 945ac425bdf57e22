"""Parsing ttal.yaml into the dataclasses of ttal.config.model, checking every key.

A bad file never produces a traceback: every problem is a ConfigError naming the file,
the key, what is wrong and how to fix it. The shared checks are in ttal.config.parse_checks,
the `pipelines:` section in ttal.config.parse_pipelines.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ttal.config.model import (
    CODEX_OWN,
    RUNTIME_KINDS,
    Agent,
    Config,
    Limits,
    Project,
    Runtime,
)
from ttal.config.parse_checks import NAME_RE, one_line
from ttal.config.parse_costs import CostParser
from ttal.config.parse_delivery import DeliveryParser
from ttal.config.parse_forge import FORGE_KEYS, forge_fields
from ttal.config.parse_merge import MERGE_KEYS, merge_settings
from ttal.config.parse_pipelines import PipelineParser
from ttal.errors import ConfigError

ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a runtime env: variable name


def parse_config(text: str, path: Path) -> Config:
    import yaml

    try:
        # libyaml parses the config in ~0.5 ms against ~9 ms for pure-Python safe_load, on
        # every command (bench/). Its error texts are vaguer, so errors come from safe_load.
        fast = getattr(yaml, "CSafeLoader", None)
        try:
            raw = yaml.load(text, Loader=fast) if fast else yaml.safe_load(text)
        except yaml.YAMLError:
            raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where, position = getattr(err, "problem_mark", None), getattr(err, "position", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        at = at or (f" at character {position + 1}" if position is not None else "")
        # A ReaderError (a control character in the file) has no `problem`; its str() is
        # two lines.
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"{path}: not valid YAML{at}: {one_line(str(problem))}",
            hint="fix the syntax there; `ttal init --print` shows a valid example",
        ) from None
    except (ValueError, RecursionError) as err:
        # PyYAML's constructors raise these, not YAMLError: a date like 2020-13-45, an int
        # past Python's 4300-digit limit, thousands of nested brackets (tests/test_bad_input).
        raise ConfigError(
            f"{path}: not valid YAML: {one_line(str(err))[:200]}",
            hint="fix that value; quote it if it is meant as text",
        ) from None
    return Parser(path).config(raw)


class Parser(PipelineParser, CostParser, DeliveryParser):
    """The whole file: the top level and every section."""

    def config(self, raw: Any) -> Config:
        top = self.mapping(raw, "top level")
        allowed = {
            "state_dir",
            "worktree_root",
            "tmux_socket",
            "taskwarrior",
            "projects",
            "agents",
            "runtimes",
            "pipelines",
            "limits",
            "notify",
            "prices",
            "delivery",
        }
        self.unknown_keys(top, allowed, "")
        state_dir = self.path_of(top.get("state_dir"), "state_dir", _default_state())
        tw = self.mapping(top.get("taskwarrior"), "taskwarrior")
        self.unknown_keys(tw, {"taskrc", "data"}, "taskwarrior")
        socket = self.string(top.get("tmux_socket"), "tmux_socket", "ttal")
        if not re.match(r"^[A-Za-z0-9_.-]+$", socket):
            raise self.fail(
                "tmux_socket", f"{socket!r} is not a valid socket name", "use [A-Za-z0-9_.-]"
            )
        runtimes = self.runtimes(top.get("runtimes"))
        agents = self.agents(top.get("agents"), runtimes)
        return Config(
            path=self.path,
            state_dir=state_dir,
            worktree_root=self.path_of(
                top.get("worktree_root"), "worktree_root", str(state_dir / "worktrees")
            ),
            tmux_socket=socket,
            taskrc=self.path_of(tw["taskrc"], "taskwarrior.taskrc") if "taskrc" in tw else None,
            task_data=self.path_of(tw["data"], "taskwarrior.data") if "data" in tw else None,
            projects=self.projects(top.get("projects")),
            agents=agents,
            runtimes=runtimes,
            pipelines=self.pipelines(top.get("pipelines"), agents),
            limits=self.limits(top.get("limits")),
            notify=self.optional_string(top.get("notify"), "notify"),
            prices=self.prices(top.get("prices")),
            budget=self.budget(self.mapping(top.get("limits"), "limits").get("budget")),
            delivery=self.delivery(top.get("delivery")),
        )

    def projects(self, raw: Any) -> dict[str, Project]:
        out: dict[str, Project] = {}
        for name, body in self.mapping(raw, "projects").items():
            key = f"projects.{name}"
            self.name(name, key)
            data = self.mapping(body, key)
            allowed = {"repo", "base", "max_workers", "spawn_spacing", *FORGE_KEYS} | MERGE_KEYS
            self.unknown_keys(data, allowed, key)
            if "repo" not in data:
                raise self.fail(
                    f"{key}.repo", "missing", "set it to the path of the git repository"
                )
            base = self.string(data.get("base"), f"{key}.base", "main")
            out[name] = Project(
                name,
                self.path_of(data["repo"], f"{key}.repo"),
                base,
                int(self.seconds(data.get("max_workers"), f"{key}.max_workers")),
                self.seconds(data.get("spawn_spacing"), f"{key}.spawn_spacing"),
                **forge_fields(self, data, key),
                **merge_settings(self, data, key),
            )
        return out

    def runtimes(self, raw: Any) -> dict[str, Runtime]:
        out: dict[str, Runtime] = {}
        for name, body in self.mapping(raw, "runtimes").items():
            key = f"runtimes.{name}"
            self.name(name, key)
            data = self.mapping(body, key)
            allowed = {"kind", "command", "args", "script", "spawn_spacing", "env"}
            self.unknown_keys(data, allowed, key)
            kind = self.string(data.get("kind"), f"{key}.kind", name)
            if kind not in RUNTIME_KINDS:
                raise self.fail(
                    f"{key}.kind", f"unknown kind {kind!r}", f"use one of {RUNTIME_KINDS}"
                )
            args = data.get("args") or []
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise self.fail(
                    f"{key}.args", "expected a list of strings", "e.g. args: [--model, opus]"
                )
            if kind == "codex" and (own := [a for a in args if a.split("=")[0] in CODEX_OWN]):
                raise self.fail(f"{key}.args", f"{own[0]} is ttal's to set",
                                "ttal chooses Codex's sandbox and approvals per role "
                                "(README, Codex); remove it from args")  # fmt: skip
            script = None
            if kind == "scripted":
                script = self.path_of(data.get("script"), f"{key}.script")
            if kind == "command" and not data.get("command"):
                raise self.fail(
                    f"{key}.command", "missing", "set a command line; {prompt_file} is replaced"
                )
            default_cmd = kind if kind in ("claude", "codex") else ""
            command = self.optional_string(data.get("command"), f"{key}.command") or default_cmd
            spacing = self.seconds(data.get("spawn_spacing"), f"{key}.spawn_spacing")
            env = self.env(data.get("env"), f"{key}.env")
            out[name] = Runtime(name, kind, command, tuple(args), script, spacing, env)
        for builtin in ("claude", "codex"):
            out.setdefault(builtin, Runtime(builtin, builtin, builtin))
        return out

    def env(self, raw: Any, key: str) -> dict[str, str]:
        """Variables for the runtime's sessions; `${VAR}` in a value is taken from ttal's own
        environment, so a secret can stay out of the file."""
        out: dict[str, str] = {}
        for name, value in self.mapping(raw, key).items():
            if not ENV_RE.match(name) or name.startswith("TTAL_"):
                raise self.fail(f"{key}.{name}", "not a variable ttal may set",
                                "letters, digits and _; TTAL_* are ttal's identity")  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise self.fail(f"{key}.{name}", f"expected text, got {value!r}", 'e.g. "1"')
            out[name] = os.path.expandvars(str(value))
        return out

    def agents(self, raw: Any, runtimes: dict[str, Runtime]) -> dict[str, Agent]:
        out: dict[str, Agent] = {}
        for name, body in self.mapping(raw, "agents").items():
            key = f"agents.{name}"
            self.name(name, key)
            data = self.mapping(body, key)
            self.unknown_keys(data, {"role", "runtime", "prompt", "workdir"}, key)
            if name.startswith(("w-", "r-")) or name in ("human", "ttal"):
                raise self.fail(key, f"{name!r} is reserved", "w-/r- name ttal's own sessions")
            role = self.string(data.get("role"), f"{key}.role")
            if not NAME_RE.match(role):
                raise self.fail(
                    f"{key}.role",
                    f"role {role!r} is not a plain name",
                    "worker, reviewer, manager, or a role of your own such as designer",
                )
            runtime = self.string(data.get("runtime"), f"{key}.runtime", "claude")
            if runtime not in runtimes:
                raise self.fail(
                    f"{key}.runtime",
                    f"no runtime named {runtime!r}",
                    f"declare it under runtimes:, or use one of {sorted(runtimes)}",
                )
            prompt = self.path_of(data["prompt"], f"{key}.prompt") if data.get("prompt") else None
            workdir = (
                self.path_of(data["workdir"], f"{key}.workdir") if data.get("workdir") else None
            )
            out[name] = Agent(name, role, runtime, prompt, workdir)
        return out

    def limits(self, raw: Any) -> Limits:
        data = self.mapping(raw, "limits")
        known = (("max_workers", 16, "8"), ("stuck_after", 900, "600"),
                 ("restart_limit", 3, "3"), ("restart_backoff", 30, "30"))  # fmt: skip
        self.unknown_keys(data, {k for k, _, _ in known} | {"budget"}, "limits")
        values = {}
        for key, default, example in known:  # `budget`: CostParser.budget
            value = data.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise self.fail(
                    f"limits.{key}",
                    f"expected a positive integer, got {value!r}",
                    f"e.g. {example}",
                )
            values[key] = value
        return Limits(**values)


def _default_state() -> str:
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(xdg) / "ttal")
