"""Smoke test of the soak benchmark: ``python -m benchmarks.soak --smoke`` runs 3 nodes with the join defaults
in process and writes its table, JSON (with provenance) and plot (reward and entropy per node)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_soak_smoke_writes_table_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.soak", "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=280, env=dict(os.environ, HF_HUB_OFFLINE="1"), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "end/peak" in proc.stdout
    report = json.loads(out.read_text())
    assert report["provenance"]["command"].startswith("python -m benchmarks.soak --smoke")
    assert report["nodes"] == 3 and report["rounds"] == 16 and report["seeds"] == [0]
    (run,) = report["runs"]
    assert len(run["summary"]) == 3
    for node in run["summary"]:
        assert len(node["eighths"]) == 8 and 0 < node["peak_ma"] <= 1 and len(node["entropy_eighths"]) == 8
    assert out.with_suffix(".png").stat().st_size > 1000
