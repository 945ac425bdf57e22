"""The scale bench (bench/scale.py) runs end to end in its tiniest mode: a 20-task store, a
2-task fleet through the real pipeline, every row measured. It checks the harness's output,
never a timing (the machine is shared)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = {  # the rows, by how their names start, and the targets they carry
    "fleet CPU/task, 10 tasks": "",
    "fleet CPU/task, 20 tasks": "",
    "fleet CPU/task, 20 vs 10": "<= 1.5x",
    "spawn, 10 tasks": "<= 2.5x",
    "spawn, 20 tasks": "<= 2.5x",
    "advance, 20 tasks": "",
    "status, 5 pending + 15 done": "<= 1.5x",
    "send, 20 tasks": "",
    "send, 20 queued vs none": "<= 1.1x",
}


def test_the_scale_bench_runs_and_reports_every_row(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nbench/run.py's part, kept\n", encoding="utf-8")
    argv = [sys.executable, str(ROOT / "bench" / "scale.py"), "--tiny", "--json",
            "--out", str(results), "--cache", str(tmp_path / "stores")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc = json.loads(proc.stdout)

    by_op = {r["op"]: r for r in doc["results"]}
    assert list(by_op) == list(ROWS)
    for op, target in ROWS.items():
        row = by_op[op]
        assert row["target"] == target, op
        assert row["verdict"] in (("ok", "MISS") if target else ("",)), op
        for key in ("ttal_ms", "floor_ms", "ratio"):
            assert isinstance(row[key], float | int) and math.isfinite(row[key]), (op, key)
            assert row[key] > 0, (op, key, row[key])
        assert row["ttal_samples"] and row["floor_samples"], op
    fleet = by_op["fleet CPU/task, 20 vs 10"]
    assert fleet["ttal_ms"] == by_op["fleet CPU/task, 20 tasks"]["ttal_ms"]
    assert fleet["floor_ms"] == by_op["fleet CPU/task, 10 tasks"]["ttal_ms"]
    assert set(doc["fleet_wall_s"]) == {"10", "20"}
    assert all(v > 0 for v in doc["fleet_wall_s"].values())
    assert doc["loadavg"] and doc["loadavg_end"]

    text = results.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results\n\nbench/run.py's part, kept\n")
    assert "<!-- begin scale -->" in text and "<!-- end scale -->" in text
    assert all(op in text for op in ROWS)
    assert (tmp_path / "stores").is_dir()  # the stores went to --cache, not the checkout
