"""ttal installed the way users install CLI tools: a wheel in a fresh venv, outside the
checkout, with its Taskwarrior hooks and the demo's scripted agents inside the package.
`ttal demo` must run there as it does from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_INDEX = ("No matching distribution", "Could not find a version", "Network is unreachable")


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def installed(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Build the wheel, install it into a new venv; the venv's bin and a clean environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    steps = [
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        [sys.executable, "-m", "venv", str(venv)],
    ]
    for argv in steps:
        proc = run(argv, tmp_path, env)
        assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    [wheel] = wheels.glob("ttal-*.whl")
    proc = run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], tmp_path, env)
    if proc.returncode != 0 and any(s in proc.stderr for s in NO_INDEX):
        pytest.skip(f"no package index for ttal's dependencies: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    return venv / "bin", env


def test_a_wheel_in_a_fresh_venv_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    bin_dir, env = installed(tmp_path)
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**env, "PATH": f"{bin_dir}:{env['PATH']}", "TTAL_SERVER": "off"}
    where = run([str(bin_dir / "python"), "-c", "import ttal; print(ttal.__file__)"], away, env)
    assert where.stdout.startswith(str(tmp_path / "venv")), where.stdout  # not the checkout
    package = Path(where.stdout.strip()).parent
    assert (package / "_hooks" / "on-modify-ttal").is_file()
    assert (package / "_examples" / "scripted" / "worker.yaml").is_file()
    demo = run([str(bin_dir / "ttal"), "demo"], away, env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert demo.stdout.count(" merged ") == 4, demo.stdout
    assert "merge refused" in demo.stdout
