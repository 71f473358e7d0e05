"""Smoke tests of the SAPO table benchmark (`python -m benchmarks.sapo`): its --tiny mode (2 nodes, 3 rounds, 1 seed, sparse
regime) and its --quick mode (the controls grid in miniature, under 5 minutes) run end to end in a subprocess and write a
table, JSON and PNG of the expected shape; the diagnostics' --report-only on an empty log write their JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.common import RunLog
from benchmarks.sapo.sim import PHASES

REPO = Path(__file__).resolve().parents[2]


def _sapo(tmp_path: Path, *flags: str, timeout: int = 110) -> subprocess.CompletedProcess:
    """`python -m benchmarks.sapo FLAGS --out-dir tmp_path`, offline; fails the test on a non-zero exit."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sapo", *flags, "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sapo_table_tiny_writes_table_json_and_plot(tmp_path: Path) -> None:
    proc = _sapo(tmp_path, "--tiny", "--workers", "1", timeout=170)
    assert "16/0" in proc.stdout and "8/8 uniform" in proc.stdout and "vs isolation" in proc.stdout

    report = json.loads((tmp_path / "tiny.json").read_text())
    assert (tmp_path / "tiny.png").stat().st_size > 0
    assert report["provenance"]["commit"] and report["provenance"]["packages"]["torch"]
    assert report["checks"]["prefix_stable_draw"] is True
    assert report["checks"]["tokenizer_coverage_sparse"]["unknown_tokens"] == 0
    (block,) = report["blocks"]
    assert block["n_nodes"] == 2 and block["rounds"] == 3
    isolation, shared = block["rows"]
    assert isolation["label"] == "16/0" and isolation["vs_isolation"] is None
    assert shared["vs_isolation"]["n"] == 1 and shared["vs_isolation"]["per_seed"][0] > 0
    for row in (isolation, shared):
        assert len(row["curve"]) == 3 and row["cpu_s"] > 0 and row["reward_per_cpu_s"] >= 0
        assert 0 <= row["kept_per_update"] <= 16
        assert not row["rejections"], row["rejections"]
    assert shared["external_candidates_per_round"] > 0
    logged = list(RunLog(tmp_path / "tiny").rows())
    assert len(logged) == 2 and not (tmp_path / "tiny.runs.jsonl").exists()  # folded into the gzipped log
    assert all(row["env"]["transformers"] and row["env"]["tokenizers"] for row in logged)  # what else the numbers hang on
    for row in logged:  # where the CPU went: every timed phase of Node.step, within the run's own CPU and wall time
        assert set(row["phase_s"]) == set(PHASES) and row["phase_s"]["generate"] > 0 and row["phase_s"]["train"] > 0
        assert sum(row["phase_s"].values()) <= min(row["wall_s"], 1.5 * row["cpu_s"])


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_sapo_quick_runs_the_controls_grid_in_miniature_under_five_minutes(tmp_path: Path) -> None:
    """`--quick` (issue 26: under 5 minutes, in CI): S, 8/0, 16/0, replay and signed on 2 builds x 1 seed, through the
    controls table's own report (hierarchical intervals over the 2 units), JSON, plot and no calibration line."""
    started = time.monotonic()
    _sapo(tmp_path, "--quick", "--workers", "2", timeout=320)
    assert time.monotonic() - started < 300
    report = json.loads((tmp_path / "quick.json").read_text())
    (block,) = report["blocks"]
    assert block["units"] == 2 and block["tiers_complete"] == [0] and block["builds"] == [0, 1]
    assert list(block["arms"]) == ["8/8 positive", "8/0", "16/0", "8/8 replay positive", "8/8 uniform"]
    analysis = block["analysis"]
    assert analysis["sharing"] == "8/8 positive" and analysis["best_control"] in ("8/0", "16/0", "8/8 replay positive")
    low, high = analysis["primary"]["ci95"]
    assert 0 < low <= high and analysis["primary"]["mean"] > 0
    assert "**Primary (reward per CPU-second):**" in report["markdown"] and "Control (b)" not in report["markdown"]
    assert (tmp_path / "quick.png").stat().st_size > 0
    assert len(list(RunLog(tmp_path / "quick").rows())) == 10


def test_the_fill_block_fills_each_update_up_to_its_own_size() -> None:
    from benchmarks.sapo.grid import fill_blocks
    from benchmarks.sapo.sim import node_config
    from node.sampler import FillSplit, build_split

    block, half, today, two_steps, steps, longer = fill_blocks(seeds=1)
    assert longer.rounds == 2 * block.rounds and [c.label for c in longer.configs] == ["16/0", two_steps.configs[1].label]
    assert {s.iterations for s in two_steps.specs(0)} == {2}  # its baseline is isolation at two steps too
    assert [s.iterations for s in steps.specs(0)] == [1, 1, 2, 2, 3]  # against isolation's best recipe: one step
    assert steps.specs(0)[0] == block.specs(0)[0] and steps.specs(0)[3] == two_steps.specs(0)[1]  # shared runs
    assert all(s.local_i == 8 for s in half.specs(0)[1:])  # the rows at isolation's CPU generate half as much
    assert [c.label for c in today.configs][:3] == ["16/0", "8/8 uniform", "8/8 positive"]  # the main table's sparse-4 core
    specs = block.specs(0)
    assert {s.update_groups for s in specs if s.adaptive == "fill"} == {16, 24, 48}
    assert specs[0].external_j == 0 and not specs[0].adaptive  # isolation first: the baseline of the block
    assert [c.label for c in block.configs].index("8/8 uniform") < block.core_configs  # every seed has uniform
    fill24 = next(s for s in specs if s.adaptive == "fill" and s.update_groups == 24)
    sampler = node_config(fill24, 0).sampler  # the fill is the node's own split, configured like `swarm run`'s
    split = build_split(sampler.split.type, sampler.split.options)
    assert isinstance(split, FillSplit) and split.current(sampler.local_i, sampler.external_j) == (16, 0)
    split.observe(0, local_kept=3, external_candidates=0, configured_j=0)
    assert split.current(16, 0) == (16, 21)  # 3 informative local groups: 21 slots for peers'


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_sharing_run_is_reproducible() -> None:
    """Each transport's choice of records has its own seeded RNG: the same spec gives the same run. With J = 2
    of its two peers' groups (dense regime: most are informative), what a node learns from depends on the
    order its collect verified them; before the seed, two runs differed within 5 rounds."""
    from benchmarks.sapo.sim import DENSE, RunSpec, run_swarm

    spec = RunSpec(regime=DENSE, n_nodes=3, local_i=4, external_j=2, rounds=5, seed=0, completions=8)
    first, second = run_swarm(spec), run_swarm(spec)
    candidates = [c for row in first.external_candidates for c in row[1:]]
    assert sum(candidates) / len(candidates) > spec.external_j  # more candidates than J: a real choice
    assert (first.common, first.rewards) == (second.common, second.rewards)


@pytest.mark.timeout(120)
def test_controls_report_only_on_an_empty_log_writes_every_output(tmp_path: Path) -> None:
    """`--controls --report-only` before any run (and before (b) is calibrated): nothing analysed, the README
    block rewritten, the JSON and the plot written."""
    (tmp_path / "README.md").write_text("<!-- BEGIN controls table -->\nNot run yet.\n<!-- END controls table -->\n")
    _sapo(tmp_path, "--controls", "--report-only")
    assert "0 complete tier(s) analysed" in (tmp_path / "README.md").read_text()
    report = json.loads((tmp_path / "controls.json").read_text())
    assert [b["units"] for b in report["blocks"]] == [0, 0] and report["runs_in_log"] == 0
    assert (tmp_path / "controls.png").stat().st_size > 0


@pytest.mark.timeout(120)
def test_controls_phases_report_only_on_an_empty_log_writes_its_json(tmp_path: Path) -> None:
    """`--controls-phases --report-only` before any run: the four arms planned, none reported, the JSON written."""
    _sapo(tmp_path, "--controls-phases", "--report-only")
    report = json.loads((tmp_path / "controls-phases.json").read_text())
    assert report["arms"] == {} and report["question_seed"] == 1000 and "| arm | generate |" in report["table"]


@pytest.mark.timeout(120)
def test_controls_regimes_report_only_on_an_empty_log_writes_its_json(tmp_path: Path) -> None:
    """`--controls-regimes --report-only` before any run: three settings planned, every seed listed as missing."""
    _sapo(tmp_path, "--controls-regimes", "--report-only")
    report = json.loads((tmp_path / "controls-regimes.json").read_text())
    assert len(report["settings"]) == 3 and "| setting | seed |" in report["table"]
    assert all(s["seeds"] == {} and s["missing_seeds"] == [1000, 1001] for s in report["settings"].values())
