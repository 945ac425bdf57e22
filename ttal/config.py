"""Load and validate ttal.yaml into plain dataclasses.

A bad file never produces a traceback: every problem is a ConfigError naming the file,
the key, what is wrong and how to fix it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttal.errors import ConfigError
from ttal.pipeline import GATES, Pipeline, Stage

RUNTIME_KINDS = ("scripted", "command", "claude", "codex")
EPHEMERAL_ROLES = ("worker", "reviewer")  # any other role is a persistent, manager-plane agent
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,40}$")
TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_SECONDS = 10**9  # a bound for numbers in the config: float() of a huge int overflows


@dataclass(frozen=True)
class Project:
    name: str
    repo: Path
    base: str = "main"
    max_workers: int = 0  # 0: only the global limit applies
    spawn_spacing: float = 0.0  # seconds between two spawns in this project


@dataclass(frozen=True)
class Runtime:
    name: str
    kind: str
    command: str = ""  # executable (claude/codex) or template (command)
    args: tuple[str, ...] = ()
    script: Path | None = None  # scripted runtime only
    spawn_spacing: float = 0.0  # seconds between two launches of this runtime (rate limits)


@dataclass(frozen=True)
class Agent:
    name: str
    role: str
    runtime: str
    prompt: Path | None = None
    workdir: Path | None = None

    @property
    def persistent(self) -> bool:
        return self.role not in EPHEMERAL_ROLES


@dataclass(frozen=True)
class Limits:
    max_workers: int = 16
    stuck_after: int = 900  # seconds busy with no pane output before an agent counts as stuck
    restart_limit: int = 3  # `ttal watch` restarts a dead agent at most this often, then alerts
    restart_backoff: int = 30  # seconds before its second restart; doubled for each one after


@dataclass(frozen=True)
class Config:
    path: Path
    state_dir: Path
    worktree_root: Path
    tmux_socket: str
    taskrc: Path | None
    task_data: Path | None
    projects: dict[str, Project]
    agents: dict[str, Agent]
    runtimes: dict[str, Runtime]
    pipelines: dict[str, Pipeline]
    limits: Limits = field(default_factory=Limits)
    notify: str = ""

    def project(self, name: str) -> Project:
        from ttal.errors import NotFound

        if name not in self.projects:
            known = ", ".join(sorted(self.projects)) or "none"
            raise NotFound(
                f"unknown project {name!r} (known: {known})",
                hint=f"add it under 'projects:' in {self.path}, or set the task's project:",
            )
        return self.projects[name]

    def agent(self, name: str) -> Agent:
        from ttal.errors import NotFound

        if name not in self.agents:
            known = ", ".join(sorted(self.agents)) or "none"
            raise NotFound(
                f"unknown agent {name!r} (known: {known})",
                hint=f"declare it under 'agents:' in {self.path}",
            )
        return self.agents[name]


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None
    return parse_config(text, path)


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
            f"{path}: not valid YAML{at}: {_one_line(str(problem))}",
            hint="fix the syntax there; `ttal init --print` shows a valid example",
        ) from None
    except (ValueError, RecursionError) as err:
        # PyYAML's constructors raise these, not YAMLError: a date like 2020-13-45, an int
        # past Python's 4300-digit limit, thousands of nested brackets (tests/test_bad_input).
        raise ConfigError(
            f"{path}: not valid YAML: {_one_line(str(err))[:200]}",
            hint="fix that value; quote it if it is meant as text",
        ) from None
    return _Parser(path).config(raw)


def _one_line(text: str) -> str:
    """Control characters (a newline in a YAML key, say) shown escaped: an error is one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: {_one_line(key)}: {_one_line(problem)}", hint=fix)

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(
                key, f"expected a mapping, got {type(value).__name__}", "see `ttal init`"
            )
        for k in value:
            if not isinstance(k, str):
                raise self.fail(key, f"key {k!r} is not a string", "quote it or rename it")
        return value

    def string(self, value: Any, key: str, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}", "set a value")
        return value

    def optional_string(self, value: Any, key: str) -> str:
        """Unset or a string: `notify: {a: 1}` once became the command "{'a': 1}"."""
        if value is None or value == "":
            return ""
        return self.string(value, key)

    def path_of(self, value: Any, key: str, default: str | None = None) -> Path:
        text = self.string(value, key, default)
        if "\0" in text:  # os calls raise ValueError on it, at the first mkdir or stat
            raise self.fail(key, f"{text!r} contains a NUL character", "remove it")
        expanded = Path(os.path.expandvars(text)).expanduser()
        return expanded if expanded.is_absolute() else (self.base / expanded).resolve()

    def name(self, value: str, key: str) -> str:
        if not NAME_RE.match(value):
            raise self.fail(
                key,
                f"name {value!r} is not allowed",
                "use letters, digits, '-' and '_', starting with a letter (max 41 chars)",
            )
        return value

    def unknown_keys(self, data: dict[str, Any], allowed: set[str], key: str) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            # Quoted when odd: an empty key read "ttal.yaml: : unknown key".
            name = extra[0] if re.fullmatch(r"[\w.-]+", extra[0]) else repr(extra[0])
            raise self.fail(
                f"{key}.{name}" if key else name,
                "unknown key",
                f"allowed keys here: {', '.join(sorted(allowed))}",
            )

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
        )

    def projects(self, raw: Any) -> dict[str, Project]:
        out: dict[str, Project] = {}
        for name, body in self.mapping(raw, "projects").items():
            key = f"projects.{name}"
            self.name(name, key)
            data = self.mapping(body, key)
            self.unknown_keys(data, {"repo", "base", "max_workers", "spawn_spacing"}, key)
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
            )
        return out

    def runtimes(self, raw: Any) -> dict[str, Runtime]:
        out: dict[str, Runtime] = {}
        for name, body in self.mapping(raw, "runtimes").items():
            key = f"runtimes.{name}"
            self.name(name, key)
            data = self.mapping(body, key)
            self.unknown_keys(data, {"kind", "command", "args", "script", "spawn_spacing"}, key)
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
            out[name] = Runtime(name, kind, command, tuple(args), script, spacing)
        for builtin in ("claude", "codex"):
            out.setdefault(builtin, Runtime(builtin, builtin, builtin))
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

    def seconds(self, value: Any, key: str) -> float:
        """A non-negative number (0 when unset)."""
        if value is None:
            return 0.0
        number = isinstance(value, int | float) and not isinstance(value, bool)
        # Written so .nan fails too; .inf and a 400-digit int broke int() and float() later.
        if not number or not 0 <= value <= MAX_SECONDS:
            raise self.fail(
                key, f"expected a number from 0 to {MAX_SECONDS}, got {value!r}", "e.g. 5"
            )
        return float(value)

    def limits(self, raw: Any) -> Limits:
        data = self.mapping(raw, "limits")
        known = (("max_workers", 16, "8"), ("stuck_after", 900, "600"),
                 ("restart_limit", 3, "3"), ("restart_backoff", 30, "30"))  # fmt: skip
        self.unknown_keys(data, {k for k, _, _ in known}, "limits")
        values = {}
        for key, default, example in known:
            value = data.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise self.fail(
                    f"limits.{key}",
                    f"expected a positive integer, got {value!r}",
                    f"e.g. {example}",
                )
            values[key] = value
        return Limits(**values)

    def pipelines(self, raw: Any, agents: dict[str, Agent]) -> dict[str, Pipeline]:
        data = self.mapping(raw, "pipelines")
        if not data:
            return {"default": default_pipeline(agents)}
        out = {name: self.pipeline(name, body, agents) for name, body in data.items()}
        self.check_tags_unique(out)
        defaults = [p.name for p in out.values() if not p.match_tags]
        if len(defaults) > 1:
            raise self.fail(
                f"pipelines.{defaults[1]}.match_tags",
                f"pipelines {defaults} all have no match_tags, so a plain task matches several",
                "give all but one pipeline match_tags",
            )
        return out

    def pipeline(self, name: str, body: Any, agents: dict[str, Agent]) -> Pipeline:
        key = f"pipelines.{name}"
        self.name(name, key)
        data = self.mapping(body, key)
        self.unknown_keys(data, {"match_tags", "stages", "description"}, key)
        match = data.get("match_tags") or []
        if not isinstance(match, list) or not all(
            isinstance(t, str) and TAG_RE.match(t) for t in match
        ):
            raise self.fail(f"{key}.match_tags", "expected a list of tag names", "e.g. [feature]")
        stages_raw = data.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise self.fail(
                f"{key}.stages", "expected a non-empty list of stages", "see `ttal init`"
            )
        stages = tuple(
            self.stage(f"{key}.stages[{i}]", s, agents) for i, s in enumerate(stages_raw)
        )
        if stages[-1].kind != "merge" or any(s.kind == "merge" for s in stages[:-1]):
            raise self.fail(f"{key}.stages", "the last stage, and only it, must be kind: merge", "")
        return Pipeline(name, tuple(match), stages)

    def stage(self, key: str, body: Any, agents: dict[str, Agent]) -> Stage:
        data = self.mapping(body, key)
        allowed = {"name", "kind", "tag", "gate", "agent", "assign", "reviewer", "review_tag",
                   "approve_tag"}  # fmt: skip
        self.unknown_keys(data, allowed | {"commits"}, key)
        name = self.string(data.get("name"), f"{key}.name")
        if not TAG_RE.match(name):
            raise self.fail(f"{key}.name", f"{name!r} is not tag-safe", "use letters, digits and _")
        kind = self.string(data.get("kind"), f"{key}.kind", "merge" if name == "merge" else "work")
        if kind not in ("work", "merge"):
            raise self.fail(f"{key}.kind", f"unknown kind {kind!r}", "use work or merge")
        gate = self.string(data.get("gate"), f"{key}.gate", "review" if kind == "work" else "auto")
        if gate not in GATES:
            raise self.fail(f"{key}.gate", f"unknown gate {gate!r}", f"use one of {GATES}")
        tag = self.tag(data.get("tag"), f"{key}.tag", "merged" if kind == "merge" else "")
        role = self.assign_role(data.get("assign"), f"{key}.assign", agents, kind)
        agent = self.role_agent(
            data.get("agent"), f"{key}.agent", agents, "worker", kind == "work" and not role
        )
        if role and agent:
            raise self.fail(key, "has both agent: and assign:", "a stage is a worker's or a role's")
        reviewer = review_tag = approve_tag = ""
        if gate == "review":
            if kind == "merge":
                raise self.fail(
                    f"{key}.gate", "a merge stage cannot have a review gate", "use auto or human"
                )
            reviewer = self.role_agent(
                data.get("reviewer"), f"{key}.reviewer", agents, "reviewer", True
            )
            review_tag = self.tag(data.get("review_tag"), f"{key}.review_tag", "")
            approve_tag = self.tag(data.get("approve_tag"), f"{key}.approve_tag", "")
        commits = data.get("commits", kind == "work" and not role)
        if not isinstance(commits, bool):
            raise self.fail(f"{key}.commits", f"expected true or false, got {commits!r}", "")
        return Stage(name, kind, tag, gate, agent, reviewer, review_tag, approve_tag, commits, role)

    def assign_role(self, value: Any, key: str, agents: dict[str, Agent], kind: str) -> str:
        if value is None:
            return ""
        role = self.string(value, key)
        if kind != "work":
            raise self.fail(key, "only a work stage can be assigned to a role", "remove it")
        holders = [a.name for a in agents.values() if a.role == role]
        if not holders or not all(agents[h].persistent for h in holders):
            raise self.fail(
                key,
                f"no persistent agent has role {role!r}",
                f"declare one under agents: with role: {role} (not worker or reviewer)",
            )
        return role

    def tag(self, value: Any, key: str, default: str) -> str:
        tag = self.string(value, key, default or None)
        if not TAG_RE.match(tag):
            raise self.fail(
                key, f"{tag!r} is not a valid tag", "letters, digits and _ only (no '-')"
            )
        return tag

    def role_agent(
        self, value: Any, key: str, agents: dict[str, Agent], role: str, need: bool
    ) -> str:
        if value is None and not need:
            return ""
        name = self.string(value, key)
        if name not in agents:
            raise self.fail(
                key, f"no agent named {name!r}", f"declare it under agents: with role: {role}"
            )
        if agents[name].role != role:
            raise self.fail(
                key, f"agent {name!r} has role {agents[name].role!r}", f"use a {role} agent"
            )
        return name

    def check_tags_unique(self, pipelines: dict[str, Pipeline]) -> None:
        # Stage tags may be shared (so `task +merged list` spans pipelines); a match tag
        # picks exactly one pipeline, so it may appear nowhere else.
        stage_tags = {t for p in pipelines.values() for t in p.tags}
        owner: dict[str, str] = {}
        for p in pipelines.values():
            for tag in p.match_tags:
                if tag in owner or tag in stage_tags:
                    other = owner.get(tag, "a stage tag")
                    raise self.fail(
                        f"pipelines.{p.name}.match_tags",
                        f"tag {tag!r} is also used by {other}",
                        "a match tag must select one pipeline and not be a stage tag",
                    )
                owner[tag] = f"pipeline {p.name!r}"
            dup = [t for t in p.tags if p.tags.count(t) > 1]
            if dup:
                raise self.fail(
                    f"pipelines.{p.name}", f"tag {dup[0]!r} is used twice", "rename one"
                )


def default_pipeline(agents: dict[str, Agent]) -> Pipeline:
    worker = next((a.name for a in agents.values() if a.role == "worker"), "")
    reviewer = next((a.name for a in agents.values() if a.role == "reviewer"), "")
    implement = Stage("implement", "work", "coded", "review", worker, reviewer, "reviewing", "lgtm")
    return Pipeline("default", (), (implement, Stage("merge", "merge", "merged", "auto")))


def _default_state() -> str:
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(xdg) / "ttal")
