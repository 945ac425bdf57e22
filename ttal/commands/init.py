"""`ttal init`: write a commented starter ttal.yaml."""

from __future__ import annotations

from pathlib import Path

from ttal.config.load import config_path
from ttal.errors import PreconditionFailed

STARTER = """\
# ttal.yaml: ttal's one configuration file.
# Found at $TTAL_CONFIG, else $XDG_CONFIG_HOME/ttal/ttal.yaml (~/.config/ttal/ttal.yaml).
# After editing, run `ttal doctor --fix` (declares Taskwarrior UDAs, installs the hooks).

# Where ttal keeps its state (SQLite, locks, prompts, logs) and the workers' worktrees.
# state_dir: ~/.local/state/ttal
# worktree_root: ~/.local/state/ttal/worktrees

# ttal runs every agent on its own tmux server (`tmux -L <socket>`), never your default one.
tmux_socket: ttal

# Taskwarrior: leave out to use your own, found as `task` finds it ($TASKRC, ~/.taskrc or
# ~/.config/task/taskrc; $TASKDATA). Name both for an isolated one.
# taskwarrior:
#   taskrc: ~/.config/ttal/taskrc
#   data: ~/.local/share/ttal/task

# Projects: a task's `project:` names one of these.
projects:
  api:
    repo: ~/src/api          # a git repository
    base: main               # the branch ttal merges into
    # merge: github          # merge through pull requests with your `gh` login (docs/forges.md)

# Runtimes: how agents are launched. Kinds: claude, codex, command, scripted.
runtimes:
  claude:
    kind: claude
    command: claude
    args: []                 # extra flags, e.g. [--model, opus]
  # any program; {prompt_file}, {workdir} and {prompt} are filled in:
  # aider:
  #   kind: command
  #   command: aider --message-file {prompt_file}

# Agents: workers do one task each in a worktree; reviewers are review leads;
# managers are persistent (see `ttal up`).
agents:
  coder:
    role: worker
    runtime: claude
  review-lead:
    role: reviewer
    runtime: claude

# Pipelines: chosen by the task's tags (match_tags); the one without match_tags is the default.
# Tags are monotonic: coded -> reviewing -> lgtm -> merged, never removed.
# Gates: auto, review (the reviewer's approval) or human (`ttal approve TASK`).
pipelines:
  default:
    stages:
      - name: implement
        agent: coder
        tag: coded
        gate: review
        reviewer: review-lead
        review_tag: reviewing
        approve_tag: lgtm
      - name: merge
        kind: merge
        tag: merged
        gate: auto

limits:
  max_workers: 8
"""


def init(path: Path | None, force: bool) -> Path:
    target = path or config_path()
    if target.exists() and not force:
        raise PreconditionFailed(
            f"{target} already exists; nothing was written",
            hint="edit it, or pass --force to replace it",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER, encoding="utf-8")
    return target
