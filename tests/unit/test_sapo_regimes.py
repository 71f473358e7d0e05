"""Does learning pay for its CPU (benchmarks.sapo.regimes) on a synthetic run log: S over 4/0 per CPU-second and
per round, every arm over the frozen node, the reward gained per extra CPU-second; a seed missing an arm is
left out and listed."""

from __future__ import annotations

import pytest

from benchmarks.sapo import controls
from benchmarks.sapo.regimes import regimes_blocks, regimes_report
from benchmarks.sapo.runs import spec_key

REWARD = {controls.SHARING_4.label: 0.06, controls.ISOLATION_4.label: 0.05, controls.FROZEN_4.label: 0.05}
CPU = {controls.SHARING_4.label: 60.0, controls.ISOLATION_4.label: 40.0, controls.FROZEN_4.label: 20.0}


def _row(spec, label: str) -> dict:
    return {"key": spec_key(spec), "label": label, "cpu_s": CPU[label],
            "common": [[REWARD[label]] * spec.rounds for _ in range(spec.n_nodes)]}


def _log(skip: tuple[str, int] | None = None) -> dict[str, dict]:
    rows = [_row(spec, c.label) for block in regimes_blocks() for seed in block.seeds
            for c, spec in zip(block.configs, block.specs(seed, 0)) if (block.name, seed) != skip]
    return {r["key"]: r for r in rows}


def test_three_settings_of_block_5s_arms_on_pilot_seeds_only() -> None:
    blocks = regimes_blocks()
    assert [b.regime.name for b in blocks] == ["dense", "sparse", "sparser"]
    assert blocks[2].models == ("tiny-1.5m",) * 8 and blocks[0].models == ()
    for block in blocks:
        assert [c.label for c in block.configs] == ["4/4 positive, claimed-signal intake", "4/0", "4/0 frozen"]
        assert min(block.seeds) >= controls.PILOT_SEED and block.builds == (0,) and block.rounds == 150
    assert len({spec_key(s) for b in blocks for seed in b.seeds for s in b.specs(seed, 0)}) == 18


def test_report_per_seed_ratios_and_gain_per_extra_cpu_second() -> None:
    blocks = regimes_blocks()
    report = regimes_report(blocks, _log(skip=(blocks[1].name, 1001)))
    dense = report["settings"][blocks[0].name]["seeds"][1000]
    # S: 1.2x 4/0's reward at 1.5x its CPU -> 0.8x per CPU-second; the frozen node: 1.2 / 3.0 -> 2.5x S per CPU-second
    assert dense["s_over_4_0_per_round"] == pytest.approx(1.2)
    assert dense["s_cpu_over_4_0"] == pytest.approx(1.5)
    assert dense["s_over_4_0_per_cpu_s"] == pytest.approx(0.8)
    assert dense["s_over_frozen"] == pytest.approx(1.2) and dense["4_0_over_frozen"] == pytest.approx(1.0)
    assert dense["frozen_over_s_per_cpu_s"] == pytest.approx(2.5)
    nodes_rounds = 8 * 150
    assert dense["s_gained_per_extra_cpu_s"] == pytest.approx(0.01 * nodes_rounds / 40.0)
    assert dense["4_0_gained_per_extra_cpu_s"] == pytest.approx(0.0)
    assert report["settings"][blocks[1].name]["missing_seeds"] == [1001]
    assert list(report["settings"][blocks[1].name]["seeds"]) == [1000]
    assert report["table"].count("| regimes:") == 5 and "0.80x" in report["table"]
