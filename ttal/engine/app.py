"""The per-command context: config, caller identity, and lazily built adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ttal.adapters.identity import current_caller
from ttal.adapters.store.state import State
from ttal.adapters.taskwarrior import Taskwarrior
from ttal.adapters.tmux import Tmux
from ttal.config.load import load_config
from ttal.config.model import Config
from ttal.core.pipeline import Caller


@dataclass
class App:
    cfg: Config
    caller: Caller = field(default_factory=current_caller)
    # The pending parents (`depends:` on it) of each task read under its lock this run, from
    # that same read (engine/reconcile.read): a merge in a group needs no second `task` call.
    parents: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, config: Path | None = None) -> App:
        return cls(load_config(config))

    @property
    def lock_dir(self) -> Path:
        return self.cfg.state_dir / "locks"

    @property
    def run_dir(self) -> Path:
        """Prompts, exit-status files and agent logs."""
        return self.cfg.state_dir / "run"

    @cached_property
    def tw(self) -> Taskwarrior:
        from ttal.adapters.task_hooks import rules_dict

        return Taskwarrior(self.cfg.taskrc, self.cfg.task_data, self.lock_dir, rules_dict(self.cfg),
                           writes=lambda: self.state, state_dir=self.cfg.state_dir)  # fmt: skip

    @cached_property
    def tmux(self) -> Tmux:
        return Tmux(self.cfg.tmux_socket)

    @cached_property
    def state(self) -> State:
        return State(self.cfg.state_dir)
