"""A throwaway world for the demo and the tests: git repos, a private Taskwarrior,
a private tmux socket, and a config with scripted agents. Touches nothing of the user's."""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import ttal
from ttal.adapters import git as gitops
from ttal.adapters.proc import check
from ttal.adapters.tmux import Tmux

_PKG = Path(ttal.__file__).resolve().parent
# The demo's scripts: inside an installed wheel (pyproject's force-include), else the checkout's.
EXAMPLES = next(
    (d for d in (_PKG / "_examples" / "scripted", _PKG.parent / "examples" / "scripted")
     if d.is_dir()),
    _PKG.parent / "examples" / "scripted",
)  # fmt: skip
GIT_ENV = {
    "GIT_AUTHOR_NAME": "ttal demo",
    "GIT_AUTHOR_EMAIL": "demo@ttal.invalid",
    "GIT_COMMITTER_NAME": "ttal demo",
    "GIT_COMMITTER_EMAIL": "demo@ttal.invalid",
}


@dataclass
class Sandbox:
    root: Path
    socket: str
    config: Path
    repos: dict[str, Path] = field(default_factory=dict)

    @property
    def taskrc(self) -> Path:
        return self.root / "taskrc"

    @property
    def task_data(self) -> Path:
        return self.root / "task"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def env(self) -> dict[str, str]:
        """Environment for processes that act inside the sandbox as a person."""
        # Keep TMUX_TMPDIR: it says where the `-L` socket lives, and tests point it at a
        # private dir; dropping it put sandbox servers in /tmp where teardown never looked.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TTAL_") and k not in ("TMUX", "TMUX_PANE")}  # fmt: skip
        env.update(TTAL_CONFIG=str(self.config), TASKRC=str(self.taskrc), **GIT_ENV)
        env["XDG_CACHE_HOME"] = str(self.root / "cache")  # the config cache stays in here too
        # A warm server (ttal/warm/server.py) started in here leaves when the sandbox is removed.
        env["TTAL_RUNTIME_DIR"] = str(self.root / "srv")
        for key in ("TTAL_SERVER", "TTAL_SERVER_IDLE"):
            if key in os.environ:
                env[key] = os.environ[key]
        return env

    def kill_tmux(self) -> None:
        Tmux(self.socket).call("kill-server")  # fails harmlessly when none runs


def git(repo: Path, *args: str) -> str:
    """Run git in repo as the demo person; its output. Raises ExternalError if git fails."""
    result = gitops.git(repo, *args, env={**os.environ, **GIT_ENV})
    return check(result, f"git {args[0] if args else ''}").out


def make_repo(path: Path, files: dict[str, str], base: str = "main") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    gitops.init(path, base)
    git(path, "config", "user.name", GIT_ENV["GIT_AUTHOR_NAME"])
    git(path, "config", "user.email", GIT_ENV["GIT_AUTHOR_EMAIL"])
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "Initial commit")
    return path


def config_yaml(
    box: Sandbox,
    worker_script: Path,
    reviewer_script: Path,
    extra: str = "",
    runtimes: str = "",
    agents: str = "",
) -> str:
    """`runtimes` and `agents` are extra entries (YAML lines indented two spaces) for those
    blocks: a second `agents:` key in `extra` would replace the block, not add to it."""
    projects = "\n".join(f"  {n}:\n    repo: {p}\n    base: main" for n, p in box.repos.items())
    return f"""\
state_dir: {box.state_dir}
worktree_root: {box.root / "worktrees"}
tmux_socket: {box.socket}
taskwarrior:
  taskrc: {box.taskrc}
  data: {box.task_data}
projects:
{projects}
runtimes:
  scripted-worker: {{kind: scripted, script: {worker_script}}}
  scripted-reviewer: {{kind: scripted, script: {reviewer_script}}}
{runtimes}agents:
  coder: {{role: worker, runtime: scripted-worker}}
  review-lead: {{role: reviewer, runtime: scripted-reviewer}}
  plan-lead: {{role: reviewer, runtime: scripted-reviewer}}
{agents}pipelines:
  default:
    stages:
      - {{name: implement, agent: coder, tag: coded, gate: review, reviewer: review-lead,
          review_tag: reviewing, approve_tag: lgtm}}
      - {{name: merge, kind: merge, tag: merged, gate: auto}}
  planned:
    match_tags: [feature]
    stages:
      - {{name: plan, agent: coder, tag: planned, gate: review, reviewer: plan-lead,
          review_tag: plan_reviewing, approve_tag: plan_lgtm, commits: false}}
      - {{name: implement, agent: coder, tag: built, gate: review, reviewer: review-lead,
          review_tag: build_reviewing, approve_tag: build_lgtm}}
      - {{name: merge, kind: merge, tag: shipped, gate: human}}
{extra}"""


def build(
    root: Path,
    repos: dict[str, dict[str, str]] | None = None,
    worker_script: Path | None = None,
    reviewer_script: Path | None = None,
    extra_yaml: str = "",
    runtimes_yaml: str = "",
    agents_yaml: str = "",
    socket: str = "",
) -> Sandbox:
    """Create the sandbox under `root` (made if missing), on tmux socket `socket` (default:
    a fresh name; tests pass one of libtmux's throwaway servers)."""
    root.mkdir(parents=True, exist_ok=True)
    socket = socket or f"ttal-sbx-{uuid.uuid4().hex[:10]}"
    box = Sandbox(root=root, socket=socket, config=root / "ttal.yaml")
    repos = repos or {
        "api": {"greeting.txt": "hi\n", "README.md": "# api\n"},
        "web": {"index.html": "<h1>web</h1>\n", "README.md": "# web\n"},
    }
    for name, files in repos.items():
        box.repos[name] = make_repo(root / "repos" / name, files)
    scripts = root / "scripts"
    scripts.mkdir(exist_ok=True)
    worker = worker_script or EXAMPLES / "worker.yaml"
    reviewer = reviewer_script or EXAMPLES / "reviewer.yaml"
    shutil.copy(worker, scripts / "worker.yaml")
    shutil.copy(reviewer, scripts / "reviewer.yaml")
    text = config_yaml(box, scripts / "worker.yaml", scripts / "reviewer.yaml", extra_yaml,
                       _block(runtimes_yaml), _block(agents_yaml))  # fmt: skip
    box.config.write_text(text, encoding="utf-8")
    box.taskrc.write_text(f"data.location={box.task_data}\n", encoding="utf-8")
    return box


def _block(lines: str) -> str:
    """Entries for a block of the config: indented two spaces, ending in a newline."""
    text = textwrap.indent(textwrap.dedent(lines).strip("\n"), "  ")
    return text + "\n" if text.strip() else ""
