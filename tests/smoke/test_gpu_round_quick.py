"""Smoke test of the GPU round benchmark: `--smoke` runs every row (eager vs compiled generation, full vs
LoRA update, rounds in a 2-node swarm over the real DHT on loopback) on whatever device is present."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_gpu_round_quick_prints_the_rows_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "gpu_round.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_round", "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=400, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for label in ("generate: eager", "generate: compiled", "generate: HF generate", "update: full", "update: lora",
                  "gossip: publish+collect+rescore"):
        assert label in proc.stdout, proc.stdout
    result = json.loads(out.read_text())
    generation, update, rounds = result["generation"], result["update"], result["round"]
    assert generation["identical_rows"] == 1.0  # float32 on one device: the compiled path samples the same tokens
    assert generation["compiled"]["compile_s"] > 0 and generation["eager"]["tokens_per_s"] > 0
    assert update["lora"]["trained_parameters"] < update["full"]["trained_parameters"] / 10
    assert update["lora"]["peak_mib"] > 0 and update["full"]["peak_mib"] > 0  # tiny-0.5m: activations dominate both
    assert rounds["rounds"] == 2 and rounds["batches_received"] >= 1 and 0 < rounds["gossip_share"] < 1
    assert rounds["device"] in ("cpu", "mps") or rounds["device"].startswith("cuda")
