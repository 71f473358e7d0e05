"""Smoke test of the soak benchmark: --quick runs 3 nodes with the join defaults in process and writes its
table, JSON and plot (reward and entropy per node)."""

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
def test_soak_quick_writes_table_json_and_plot(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "soak.py"), "--quick", "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=280, env=dict(os.environ, HF_HUB_OFFLINE="1"), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "end/peak" in proc.stdout
    report = json.loads((tmp_path / "soak.quick.json").read_text())
    assert report["nodes"] == 3 and report["rounds"] == 40 and report["seeds"] == [0]
    (run,) = report["runs"]
    assert len(run["summary"]) == 3
    for node in run["summary"]:
        assert len(node["eighths"]) == 8 and 0 < node["peak_ma"] <= 1 and len(node["entropy_eighths"]) == 8
    assert (tmp_path / "soak.quick.png").stat().st_size > 1000
