"""Where each arm's CPU goes (benchmarks.sapo.phases) on a synthetic run log: phases per node-round, the rest
of `Node.step` as `other`, each arm's extra CPU over 8/0 split by phase; rows without phase seconds refused."""

from __future__ import annotations

import pytest

from benchmarks.sapo.phases import OTHER, phases_blocks, phases_report
from benchmarks.sapo.runs import spec_key
from benchmarks.sapo.sim import PHASES

TRAIN = {"8/0": 0.02, "16/0": 0.04, "8/8 positive": 0.09, "8/8 replay positive": 0.095}
"""Seconds of training per node-round; every other phase costs 0.01 s and `other` 0.005 s in every arm."""


def _row(spec, label: str, with_phases: bool = True) -> dict:
    n, rounds = spec.n_nodes, spec.rounds
    node_rounds = n * rounds
    phase_s = {name: 0.01 * node_rounds for name in PHASES} | {"train": TRAIN[label] * node_rounds}
    cpu = sum(phase_s.values()) + 0.005 * node_rounds
    groups = 2 if spec.external_j == 0 else 9
    row = {"key": spec_key(spec), "label": label, "common": [[0.05] * rounds for _ in range(n)],
           "cpu_s": cpu, "cpu": [[cpu / node_rounds] * rounds for _ in range(n)],
           "kept": [[groups] * rounds for _ in range(n)], "kept_local": [[2] * rounds for _ in range(n)],
           "replayed": [[0] * rounds for _ in range(n)], "local_i": [[spec.local_i] * rounds for _ in range(n)],
           "age_windows": [[None] * rounds for _ in range(n)]}
    return row | ({"phase_s": phase_s} if with_phases else {})


def _log(with_phases: bool = True) -> dict[str, dict]:
    (block,) = phases_blocks()
    rows = [_row(spec, c.label, with_phases) for c, spec in zip(block.configs, block.specs(block.seeds[0], 0))]
    return {r["key"]: r for r in rows}


def test_phases_split_each_arms_cpu_and_its_extra_over_8_0() -> None:
    (block,) = phases_blocks()
    assert [c.label for c in block.configs] == ["8/0", "16/0", "8/8 positive", "8/8 replay positive"]
    assert block.seeds == (1000,) and block.builds == (0,)  # the pilot's seed: outside the table's grid
    report = phases_report(block, _log())
    s = report["arms"]["8/8 positive"]
    assert s["s_per_node_round"]["train"] == pytest.approx(0.09)
    assert s["s_per_node_round"][OTHER] == pytest.approx(0.005, abs=1e-5)
    assert s["cpu_s_per_node_round"] == pytest.approx(0.005 + 0.05 + 0.09)
    extra = s["extra_over_8_0_s_per_node_round"]
    assert extra["train"] == pytest.approx(0.07) and extra["generate"] == pytest.approx(0.0)
    assert s["train_s_per_group_trained"] == pytest.approx(0.01)  # 0.09 s over 9 groups a node-round
    assert report["arms"]["8/0"]["train_s_per_group_trained"] == pytest.approx(0.01)
    assert "| 8/8 positive |" in report["table"] and "train per group" in report["table"]


def test_rows_logged_before_phase_seconds_are_refused() -> None:
    (block,) = phases_blocks()
    with pytest.raises(ValueError, match="phase seconds"):
        phases_report(block, _log(with_phases=False))
