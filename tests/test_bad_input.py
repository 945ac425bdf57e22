"""Bad input, fuzzed (hypothesis) and hand-picked: broken configs, hostile task descriptions
and project names, binary, empty and 5 MB message bodies, unknown names, and a read-only
Taskwarrior. Every case ends in one `ttal: ...` line (plus an optional hint) with its own
exit code, never a traceback, and leaves Taskwarrior, the repos and ttal's state as they were.

Each test prints `bad inputs tried: <what> <n>`. The README's counts come from
`pytest tests/test_bad_input.py -rP | grep "bad inputs tried"` (add up the last column for the
total).
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import by_hand
from tests.conftest import Box
from tests.mesh_helpers import recorder_box, up, wait_body
from ttal.adapters import git, sandbox
from ttal.commands.init import STARTER
from ttal.commands.send import read_body
from ttal.config.model import Config
from ttal.config.parse import parse_config
from ttal.core.pipeline import Caller
from ttal.engine import mesh
from ttal.engine.app import App
from ttal.errors import ConfigError, Exit, PreconditionFailed

SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=SLOW_IS_FINE)
FUZZ_SLOW = settings(FUZZ, max_examples=200)  # generating trees costs ~20 ms an example
NOBODY = 65534


def tried(what: str, n: int) -> None:
    print(f"bad inputs tried: {what} {n}")


def assert_refused(proc: subprocess.CompletedProcess[Any], code: Exit, says: str = "") -> None:
    """One `ttal:` line, an optional hint, the exit code, no traceback."""
    err = proc.stderr.decode() if isinstance(proc.stderr, bytes) else proc.stderr
    out = proc.stdout.decode() if isinstance(proc.stdout, bytes) else proc.stdout
    lines = err.splitlines()
    shown = f"exit {proc.returncode}\nstdout: {out[:500]}\nstderr: {err[:1000]}"
    assert proc.returncode == code, shown
    assert "Traceback" not in err + out, shown
    assert 1 <= len(lines) <= 2 and lines[0].startswith("ttal: "), shown
    assert len(lines) == 1 or lines[1].startswith("  hint: "), shown
    assert says in lines[0], shown


# ---- 1. configs ----------------------------------------------------------------------------

CONFIG = Path("/cfg/ttal.yaml")  # parse_config never touches it: paths resolve only lexically
KEYS = ["state_dir", "worktree_root", "tmux_socket", "taskwarrior", "projects", "agents",
        "runtimes", "pipelines", "limits", "notify", "repo", "base", "max_workers", "kind",
        "command", "args", "script", "role", "runtime", "stages", "name", "tag", "gate", "agent",
        "reviewer", "review_tag", "approve_tag", "match_tags", "assign", "commits", "taskrc",
        "data", "spawn_spacing"]  # fmt: skip
ODD = ["", " ", "../x", "--upload-pack=x", "~", "~nobody/x", "$HOME/x", "a\x00b", "\n", "merge",
       "worker", "reviewer", "manager", "human", "w-1", "claude", "scripted", "command", "auto",
       "review", ".inf", "2020-13-45", "日本", "🚀"]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12),
    st.sampled_from(ODD), st.sampled_from(KEYS),
)  # fmt: skip
TREES = st.recursive(
    SCALARS,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=6) | st.integers(), kids, max_size=4
        )
    ),
    max_leaves=10,
)
YAMLISH = st.text(
    alphabet=string.ascii_letters + string.digits + " :-[]{}#&*!|>'\"%@`,?\n\t.~", max_size=200
)
BROKEN = {
    "unclosed-flow": "projects: [api, {repo: /x\n",
    "infinite-number": "projects:\n  api: {repo: /x, max_workers: .inf}\n",
    "impossible-date": "state_dir: 2020-13-45\n",
    "nested-1000-deep": "[" * 1000,
    "int-of-5000-digits": "limits: {max_workers: " + "9" * 5000 + "}\n",
    "newline-in-key": '"a\\nb": 1\n',
    "nul-in-path": 'state_dir: "/tmp/a\\0b"\n',
    "empty-pipeline": "pipelines: {default: {stages: []}}\n",
}


def config_outcome(text: str) -> str:
    """parse_config returns a sound Config, or raises a ConfigError whose message is one
    printable line: `<file>: <key>: <problem>` (or `<file>: not valid YAML...`)."""
    try:
        cfg = parse_config(text, CONFIG)
    except ConfigError as err:
        assert err.exit_code == Exit.CONFIG
        assert err.message.isprintable() and "\n" not in err.hint, repr(err.message)
        assert err.message.startswith(f"{CONFIG}: "), err.message
        rest = err.message.removeprefix(f"{CONFIG}: ")
        key, sep, problem = rest.partition(": ")
        assert rest.startswith("not valid YAML") or (key and sep and problem), err.message
        return "error"
    assert_sound(cfg)
    return "config"


def dump(tree: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(tree, Dumper=dumper, allow_unicode=True, sort_keys=False)


def assert_sound(cfg: Config) -> None:
    assert cfg.state_dir.is_absolute() and cfg.worktree_root.is_absolute()
    assert isinstance(cfg.notify, str) and isinstance(cfg.tmux_socket, str)
    assert all(isinstance(r.command, str) for r in cfg.runtimes.values())
    assert all(p.repo.is_absolute() and p.max_workers >= 0 for p in cfg.projects.values())
    assert all(p.stages and p.stages[-1].kind == "merge" for p in cfg.pipelines.values())
    assert all(isinstance(v, int) and v >= 1 for v in vars(cfg.limits).values())


def test_any_text_is_a_config_or_one_config_error() -> None:
    seen = {"config": 0, "error": 0}

    @FUZZ
    @given(st.one_of(st.text(max_size=300), YAMLISH))
    def prop(text: str) -> None:
        seen[config_outcome(text)] += 1

    prop()
    tried("config text", sum(seen.values()))


def test_any_yaml_structure_is_a_config_or_one_config_error() -> None:
    seen = {"config": 0, "error": 0}

    @FUZZ_SLOW
    @given(st.one_of(TREES, st.dictionaries(st.sampled_from(KEYS), TREES, max_size=5)))
    def prop(tree: Any) -> None:
        seen[config_outcome(dump(tree))] += 1

    prop()
    tried("config structures", sum(seen.values()))


def _paths(tree: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = (
        tree.items()
        if isinstance(tree, dict)
        else enumerate(tree)
        if isinstance(tree, list)
        else ()
    )
    for key, value in items:
        yield (*at, key)
        yield from _paths(value, (*at, key))


@st.composite
def starter_mutants(draw: st.DrawFn) -> Any:
    """The starter config with keys dropped, retyped or renamed, 1 to 4 times."""
    tree = copy.deepcopy(yaml.safe_load(STARTER))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(tree))
        if not paths:
            break
        *parent_path, key = draw(st.sampled_from(paths))
        parent = tree
        for step in parent_path:
            parent = parent[step]
        op = draw(st.sampled_from(["drop", "retype", "rename"]))
        if op == "drop":
            parent.pop(key)
        elif op == "retype":
            parent[key] = draw(TREES)
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.sampled_from(ODD))] = parent.pop(key)
    return tree


def test_starter_config_mutants_are_a_config_or_one_config_error() -> None:
    seen = {"config": 0, "error": 0}

    @FUZZ_SLOW
    @given(starter_mutants())
    def prop(tree: Any) -> None:
        seen[config_outcome(dump(tree))] += 1

    prop()
    assert seen["config"] and seen["error"], seen  # both outcomes were explored
    tried("config mutants of the starter", sum(seen.values()))


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_config_in_process(name: str) -> None:
    assert config_outcome(BROKEN[name]) == "error"
    tried(f"config {name}", 1)


CLI_CONFIGS = ["unclosed-flow", "impossible-date", "nested-1000-deep", "newline-in-key",
               "not-utf8", "control-characters"]  # fmt: skip


@pytest.mark.parametrize("name", CLI_CONFIGS)
def test_broken_config_through_the_cli(name: str, tmp_path: Path) -> None:
    path = tmp_path / "ttal.yaml"
    texts = {**BROKEN, "control-characters": "a: \x01\x1b[2J\n"}
    path.write_bytes(b"projects: {\xff\xfe}\n" if name == "not-utf8" else texts[name].encode())
    proc = subprocess.run([sys.executable, "-m", "ttal", "status"], capture_output=True,
                          text=True, env={**os.environ, "TTAL_CONFIG": str(path)}, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert_refused(proc, Exit.CONFIG, str(path))
    assert proc.stdout == ""
    tried(f"config {name}, through the CLI", 1)


# ---- 2. task descriptions and project names that become branch names -----------------------

NASTY = {
    "dot-dot": "../../../etc/passwd",
    "upload-pack": "--upload-pack=touch PWNED",
    "controls": "a\nb\rc\x01d\x1b[31me\x7f\tf",
    "unicode": "日本語のタスク ünïcödé ‮evil‬ 🚀 ﬁx",
    "10k-chars": "x" * 4000 + "ü" * 3000 + "-" * 3000,
    "only-punctuation": "../.. -- ; $(rm -rf /) `id` ~ ^ : ? * [ \\ @{",
}
DESCRIPTIONS = st.one_of(
    st.text(max_size=400),
    st.sampled_from(list(NASTY.values())),
    st.builds(lambda a, b: a + b, st.sampled_from(list(NASTY.values())), st.text(max_size=50)),
    st.builds(
        lambda s, n: (s * n)[:10_000], st.text(min_size=1, max_size=12), st.integers(1, 10_000)
    ),
)


def ref_ok(name: str) -> bool:
    proc = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0 and proc.stdout.strip() == name


def assert_safe_branch(name: str) -> None:
    assert name.startswith("ttal/") and ".." not in name and len(name) <= 5 + 8 + 1 + 40, name
    assert name.isascii() and name.isprintable() and not any(c.isspace() for c in name), name
    assert ref_ok(name), name


def test_any_description_gives_a_safe_branch(tmp_path: Path) -> None:
    root = (tmp_path / "worktrees" / "api").resolve()
    n = 0

    @settings(max_examples=200, deadline=None, database=None)
    @given(st.text("0123456789abcdef", min_size=8, max_size=8), DESCRIPTIONS)
    def prop(short: str, description: str) -> None:
        nonlocal n
        n += 1
        name = git.branch_name(short, description)
        assert_safe_branch(name)
        assert (root / name.removeprefix("ttal/")).resolve().parent == root

    prop()
    tried("branch names", n)


def _task(box: Box, uuid: str) -> dict[str, Any]:
    """By uuid; strict=False: Taskwarrior writes a description's control characters raw."""
    out = box.task(uuid, "export", "rc.json.array=on").stdout
    found: list[dict[str, Any]] = json.loads(out, strict=False)
    assert len(found) == 1, out
    return found[0]


def test_nasty_descriptions_spawn_workers_inside_the_worktree_root(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    root = (box.sb.root / "worktrees").resolve()
    for name, description in NASTY.items():
        description = description.replace("PWNED", str(tmp_path / "pwned"))
        uuid = box.add(description, "project:api")
        proc = box.ttal("go", uuid)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (name, proc.stderr)
        task = _task(box, uuid)
        branch, tree = task["ttal_branch"], Path(task["ttal_worktree"])
        assert_safe_branch(branch)
        assert tree.resolve().is_relative_to(root) and tree.is_dir(), (name, tree)
        assert sandbox.git(tree, "rev-parse", "--abbrev-ref", "HEAD").strip() == branch, name
        assert task["ttal_session"] in box.sessions(), name
    assert not (tmp_path / "pwned").exists()
    heads = [line.split()[0] for line in by_hand.branches(box, "api")]
    assert sorted(heads) == sorted(
        ["main", *(_task(box, u)["ttal_branch"] for u in _uuids(box))]
    ), heads
    assert len(by_hand.worktrees(box, "api")) == len(NASTY)
    tried("nasty descriptions, end to end", len(NASTY))


def _uuids(box: Box) -> list[str]:
    out = box.task("status:pending", "export", "rc.json.array=on").stdout
    return [t["uuid"] for t in json.loads(out, strict=False)]


BAD_PROJECTS = {"dot-dot": "../x", "upload-pack": "--upload-pack=x", "unicode": "日本語",
                "unknown": "nope", "path": "api/../web"}  # fmt: skip


def test_bad_project_names_are_refused_and_change_nothing(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    uuids = {name: box.add("fine", f"project:{p}") for name, p in BAD_PROJECTS.items()}
    before = by_hand.world(box)
    for name, uuid in uuids.items():
        proc = box.ttal("go", uuid)
        assert_refused(proc, Exit.PRECONDITION, "unknown project")
        assert by_hand.world(box) == before, name
    tried("project names", len(BAD_PROJECTS))


# ---- 3. message bodies ---------------------------------------------------------------------

NOT_TEXT = {"nul-and-invalid": b"\x00\x01binary\xff\xfe", "latin-1": b"caf\xe9",
            "nul-in-utf8": b"ok\x00text", "lone-surrogate-bytes": b"\xed\xa0\x80"}  # fmt: skip
EMPTY = {"empty-stdin": b"", "blank-stdin": b" \n\t\n"}


def _send(
    box: Box, *args: str | bytes, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "ttal", "send", *args], input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, env={**box.env, **(env or {})},
                          timeout=60)  # fmt: skip


def test_empty_and_binary_bodies_are_refused_and_nothing_is_stored(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = recorder_box(make_box, tmp_path / "rec", ["boss"])
    before = by_hand.world(box)
    cases: dict[str, tuple[list[str | bytes], bytes | None, str]] = {
        **{k: (["-"], v, "not UTF-8 text") for k, v in NOT_TEXT.items()},
        **{k: (["-"], v, "empty") for k, v in EMPTY.items()},
        "empty-argument": ([""], None, "empty"),
        "blank-argument": (["  \n "], None, "empty"),
        # A command line that is not text is a usage error, whichever argument it is.
        "invalid-utf8-argument": ([b"caf\xe9 \xff"], None, "not UTF-8 text"),
        "invalid-utf8-key": (["hi", "--key", b"k\xff"], None, "not UTF-8 text"),
    }
    for i, (name, (args, stdin, says)) in enumerate(cases.items()):
        # Half from a person to a manager, half from that manager to a person.
        to, env = ("boss", {}) if i % 2 else ("human", {"TTAL_AGENT": "boss"})
        proc = _send(box, "--to", to, *args, stdin=stdin, env=env)
        usage = any(isinstance(a, bytes) for a in args)
        assert_refused(proc, Exit.USAGE if usage else Exit.PRECONDITION, says)
        assert by_hand.world(box) == before, name
    tried("message bodies (empty, binary), through the CLI", len(cases))


def test_a_5_mb_body_is_stored_as_a_file_and_the_pane_gets_a_preview(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = recorder_box(make_box, tmp_path / "rec", ["boss"])
    up(box, "boss")
    line = "0123456789 ünïcödé " * 5 + "\n"
    body = (line * (5 * 2**20 // len(line.encode()) + 1)).rstrip("\n")
    proc = _send(box, "--to", "boss", "--json", "-", stdin=body.encode())
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    stored = Path(result["file"])
    assert stored.is_relative_to(box.sb.state_dir / "messages")
    assert stored.read_bytes() == body.encode() and len(body.encode()) >= 5 * 2**20
    seen = wait_body(tmp_path / "rec" / "boss.hex", result["id"], timeout=30)
    assert len(seen) <= mesh.PREVIEW_LINES + 1 and sum(len(s) for s in seen) < 4096, seen[-1:]
    assert str(stored) in seen[-1] and f"{len(body.encode())} bytes" in seen[-1]
    tried("message bodies of 5 MB", 1)


def test_read_body_takes_utf8_text_or_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 0

    @FUZZ
    @given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
    def prop(data: bytes) -> None:
        nonlocal n
        n += 1
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        try:
            body = read_body("-")
        except PreconditionFailed as err:
            assert "not UTF-8 text" in err.message or "empty" in err.message
            return
        assert body.encode() == data.removesuffix(b"\n") and "\0" not in body

    prop()
    tried("message bodies from stdin, in-process", n)


def test_any_body_is_stored_exactly_and_shown_without_control_characters(tmp_path: Path) -> None:
    cfg = parse_config(f"state_dir: {tmp_path / 'state'}\n", tmp_path / "ttal.yaml")
    app = App(cfg, Caller("boss", "manager"))
    controls = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\n", "\t"}
    n = 0

    @settings(max_examples=200, deadline=None, database=None)
    @given(st.text(max_size=3000))
    def prop(body: str) -> None:
        nonlocal n
        n += 1
        message_id = mesh.post(app, "human", body, key=f"fuzz-{n}")
        message = app.state.message(message_id)
        assert message is not None
        assert message.body == body.replace("\r\n", "\n").replace("\r", "\n")
        if message.file:
            assert Path(message.file).read_bytes() == message.body.encode()
        shown = mesh.render(app, [message])
        assert not controls & set(mesh.sanitize(body)) and not controls & set(shown)

    prop()
    tried("message bodies, stored and rendered in-process", n)


# ---- 4. unknown tasks and agents -----------------------------------------------------------

UNKNOWN: dict[str, tuple[list[str], Exit, str]] = {
    "go-unknown-id": (["go", "999999"], Exit.NOT_FOUND, "no task 999999"),
    "go-unknown-short-uuid": (["go", "deadbeef"], Exit.NOT_FOUND, "no task deadbeef"),
    "go-path": (["go", "../x"], Exit.NOT_FOUND, "not a task reference"),
    "go-option-like": (["go", "--upload-pack=x"], Exit.USAGE, "No such option"),
    "go-no-task": (["go"], Exit.USAGE, "which task?"),
    "go-two-tasks": (["go", "1", "2"], Exit.USAGE, "unexpected extra argument"),
    "send-to-nobody": (["send", "--to", "nobody", "hi"], Exit.NOT_FOUND, "unknown recipient"),
    "send-to-no-session": (["send", "--to", "w-deadbeef", "hi"], Exit.NOT_FOUND, "unknown"),
    "send-without-to": (["send", "hi"], Exit.USAGE, "Missing option '--to'"),
    "up-nobody": (["up", "nobody"], Exit.NOT_FOUND, "unknown agent 'nobody'"),
    "attach-nobody": (["attach", "nobody"], Exit.NOT_FOUND, "no session 'nobody'"),
    "inbox-nobody": (["inbox", "nobody"], Exit.NOT_FOUND, "no agent 'nobody'"),
    "approve-unknown": (["approve", "999"], Exit.NOT_FOUND, "no task 999"),
    "unknown-command": (["frobnicate"], Exit.USAGE, "No such command"),
    "report-for-non-utf8-agent": (["report", "idle", "--agent", "caf\udce9"], Exit.USAGE, "UTF-8"),
}


def test_unknown_tasks_and_agents_are_refused_and_change_nothing(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = by_hand.idle_box(make_box, tmp_path)
    box.add("a real task", "project:api")
    before = by_hand.world(box)
    for name, (argv, code, says) in UNKNOWN.items():
        assert_refused(box.ttal(*argv), code, says)
        assert by_hand.world(box) == before, name
    tried("unknown tasks and agents", len(UNKNOWN))


# ---- 5. a read-only Taskwarrior data dir ---------------------------------------------------


def _as_nobody(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As root, permissions stop nothing: run as an unprivileged user instead."""
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    return subprocess.run(prefix + argv if os.geteuid() == 0 else argv, env=env,
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _freeze(data: Path) -> None:
    """Data dir and files owned by root (when root), 0555 and 0444 (hooks stay runnable)."""
    for path in [data, *data.rglob("*")]:
        if os.geteuid() == 0:
            os.chown(path, 0, 0)
        runnable = path.is_dir() or os.access(path, os.X_OK)
        path.chmod(0o555 if runnable else 0o444)


@pytest.fixture
def open_root(tmp_path: Path) -> Iterator[Path]:
    """A sandbox root an unprivileged user can reach (pytest's own tmp is 0700 root)."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop privileges")
    root = Path(tempfile.mkdtemp(prefix="ttal-ro-"))
    yield root
    subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)
    shutil.rmtree(root, ignore_errors=True)


def test_a_read_only_taskwarrior_refuses_in_one_line_and_nothing_changes(
    open_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = open_root / "idle.yaml"
    script.write_text(by_hand.IDLE, encoding="utf-8")
    box = Box(sandbox.build(open_root / "box", worker_script=script, reviewer_script=script))
    try:
        _read_only_case(box, open_root, monkeypatch)
    finally:
        box.sb.kill_tmux()


def _repos(box: Box) -> dict[str, Any]:
    return {p: (by_hand.branches(box, p), by_hand.worktrees(box, p)) for p in box.sb.repos}


def _state(box: Box) -> list[Any]:
    return [by_hand.rows(box, "SELECT kind, task, detail FROM events"),
            by_hand.rows(box, "SELECT recipient, body FROM messages")]  # fmt: skip


def _read_only_case(box: Box, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, tmux = root / "home", root / "tmux"
    home.mkdir()
    tmux.mkdir()
    env = {**box.env, "HOME": str(home), "TMUX_TMPDIR": str(tmux),
           "XDG_CONFIG_HOME": str(home / "c"), "XDG_STATE_HOME": str(home / "s")}  # fmt: skip
    box.ttal("doctor", "--fix", env=env, check=True)
    uuid = box.add("read-only world", "project:api")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(root)], check=True)
        probe = _as_nobody([sys.executable, "-c", "import ttal.main, yaml"], env)
        if probe.returncode != 0:
            pytest.skip(f"{sys.executable} cannot run as uid {NOBODY}: {probe.stderr.strip()}")
        # git refuses repos owned by another user; these reads are the test's, as root.
        monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
        monkeypatch.setenv("GIT_CONFIG_KEY_0", "safe.directory")
        monkeypatch.setenv("GIT_CONFIG_VALUE_0", "*")
    _freeze(box.sb.task_data)
    data = _files(box.sb.task_data)
    repos = _repos(box)
    state = _state(box)
    for argv in (["go", uuid], ["go", "1"], ["status"]):
        proc = _as_nobody([sys.executable, "-m", "ttal", *argv], env)
        assert_refused(proc, Exit.EXTERNAL, f"({box.sb.task_data}) is read-only for this user")
    # An edited pipeline makes `ttal go` rewrite the hook's rules, in the read-only data dir.
    text = box.sb.config.read_text(encoding="utf-8")
    box.sb.config.write_text(text.replace("tag: coded,", "tag: built_it,"), encoding="utf-8")
    proc = _as_nobody([sys.executable, "-m", "ttal", "go", uuid], env)
    assert_refused(proc, Exit.EXTERNAL, "cannot update the hook's rules")
    assert _files(box.sb.task_data) == data
    assert _repos(box) == repos
    assert state == _state(box)
    assert not (box.sb.root / "worktrees").exists()
    assert not any(tmux.rglob(box.sb.socket)), "a tmux server was started"
    tried("read-only Taskwarrior", 4)
