"""Smoke test of the scale benchmark: ``python -m benchmarks.scale --smoke`` (4 nodes, both patterns, 2 rounds)
runs end to end in a subprocess and writes JSON and a plot of the expected shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_scale_quick_measures_both_patterns_and_models_them(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--smoke", "--calibrate-on", "4", "--out", str(out)],
                          capture_output=True, text=True, timeout=170, env=dict(os.environ, HF_HUB_OFFLINE="1"), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Model, per node per round" in proc.stdout
    data = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    assert {(r["n"], r["pattern"]) for r in data["measured"]} == {(4, "ours"), (4, "reference")}
    ours = next(r for r in data["measured"] if r["pattern"] == "ours")
    assert ours["collects_short_of_J"] == 0 and ours["publishes_not_stored"] == 0
    assert ours["peers"] == 3 and ours["read"] > 0 and ours["cpu_s"] > 0
    assert set(ours["by_category"]) >= {"records", "parts", "announcements", "pushes"}
    assert data["model"]["predict"]["ours"]["10000"]["bytes"] > 0
    assert data["runs"][-1]["command"].startswith("python -m benchmarks.scale --smoke")
