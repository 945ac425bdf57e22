"""ttal.yaml as plain dataclasses: what a checked config holds, and its fixed vocabularies.

ttal.config.parse builds these from the YAML and checks every key; ttal.config.load finds the
file and keeps a parsed copy for the hot paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ttal.core.costs import Budget, Price
from ttal.core.pipeline import Pipeline
from ttal.core.prices import DEFAULT_PRICES
from ttal.errors import NotFound

RUNTIME_KINDS = ("scripted", "command", "claude", "codex")
# Codex's flags that choose its sandbox or approvals. ttal sets them per role, and a
# `--sandbox` would turn a review lead's read-only permission profile off
# (ttal.adapters.runtimes.launch).
CODEX_OWN = ("--sandbox", "-s", "--ask-for-approval", "-a", "--approve-for-me",
             "--dangerously-bypass-approvals-and-sandbox", "--full-auto")  # fmt: skip
EPHEMERAL_ROLES = ("worker", "reviewer")  # any other role is a persistent, manager-plane agent


@dataclass(frozen=True)
class Project:
    name: str
    repo: Path
    base: str = "main"
    max_workers: int = 0  # 0: only the global limit applies
    spawn_spacing: float = 0.0  # seconds between two spawns in this project
    # Merging through a forge (config/parse_forge.py, docs/forges.md): "local" merges into
    # `base` here; "github" pushes to `remote` and merges through a pull request.
    merge: str = "local"
    remote: str = "origin"
    pr: PullRequests = field(default_factory=lambda: PullRequests())

    # The merge queue (docs/merge-queue.md; parsed in config/parse_merge.py).
    check: str = ""  # a shell command that must pass on the merge result; "" merges as before
    check_timeout: float = 1800.0  # seconds before a hanging check is killed
    batch: int = 1  # queued branches tested together in one check run
    max_checks: int = 1  # check runs at once on one base

    @property
    def queued(self) -> bool:
        """Merges go through the merge queue (engine/merge_queue.py)."""
        return bool(self.check) or self.batch > 1


MERGE_KINDS = ("local", "github")
OPEN_AT = ("lgtm", "coded")
MERGE_METHODS = ("merge", "squash", "rebase")


@dataclass(frozen=True)
class PullRequests:
    """`projects.<name>.pr`: how ttal handles a project's pull requests."""

    repo: str = ""  # [HOST/]OWNER/REPO; "" = read from the remote's URL
    open_at: str = "lgtm"  # open the PR at the review lead's approval, or at +coded
    merge_method: str = "merge"
    delete_branch: bool = False  # delete the remote branch at the merge (else: the forge's way)
    retries: int = 5  # failed pushes or PR calls retried this often, then flagged
    backoff: float = 30.0  # seconds before the second try; doubled for each one after


@dataclass(frozen=True)
class Runtime:
    name: str
    kind: str
    command: str = ""  # executable (claude/codex) or template (command)
    args: tuple[str, ...] = ()
    script: Path | None = None  # scripted runtime only
    spawn_spacing: float = 0.0  # seconds between two launches of this runtime (rate limits)
    env: dict[str, str] = field(default_factory=dict)  # added to its sessions' environment


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
class Delivery:
    """How a backlog is typed in (ttal.engine.mesh): pieces of at most `max_messages`
    messages and `max_bytes` bytes, each pasted and recorded before the next."""

    max_messages: int = 20
    max_bytes: int = 32768


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
    # Cost (docs/cost.md): `prices:` over the default table, and `limits.budget`.
    prices: dict[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    budget: Budget = field(default_factory=Budget)
    delivery: Delivery = field(default_factory=Delivery)

    def project(self, name: str) -> Project:
        if name not in self.projects:
            known = ", ".join(sorted(self.projects)) or "none"
            raise NotFound(
                f"unknown project {name!r} (known: {known})",
                hint=f"add it under 'projects:' in {self.path}, or set the task's project:",
            )
        return self.projects[name]

    def agent(self, name: str) -> Agent:
        if name not in self.agents:
            known = ", ".join(sorted(self.agents)) or "none"
            raise NotFound(
                f"unknown agent {name!r} (known: {known})",
                hint=f"declare it under 'agents:' in {self.path}",
            )
        return self.agents[name]
