"""The controls table after the CPU cuts (benchmarks.sapo.cuts) on synthetic run logs: the grid it runs, each arm
against the first table's same arm on the same units (complete tiers only), and its README block."""

from __future__ import annotations

import pytest

from benchmarks.sapo import controls
from benchmarks.sapo.controls_output import write_controls
from benchmarks.sapo.controls_report import controls_report
from benchmarks.sapo.cli import choose, parse_args
from benchmarks.sapo import cuts
from benchmarks.sapo.cuts import before_and_after, cuts_2_blocks, cuts_3_blocks, cuts_blocks, format_before_and_after
from benchmarks.sapo.runs import spec_key

CPU = {"13/0, CPU-matched": 0.26, "8/0": 0.15, "8/8 positive": 0.25, "8/8 replay positive": 0.22, "16/0": 0.3,
       "14/0, CPU-matched": 0.27, "8/8 uniform": 0.3, "8/8 need positive": 0.25}
"""CPU-seconds per node-round of each arm in the first table; the cuts make 8/0 0.9x and the others 0.7x."""
REWARD = {"13/0, CPU-matched": 0.04, "8/0": 0.04, "8/8 positive": 0.05, "8/8 replay positive": 0.045, "16/0": 0.04,
          "14/0, CPU-matched": 0.04, "8/8 uniform": 0.04, "8/8 need positive": 0.05}


def _row(spec, label: str, cut: bool) -> dict:
    n, rounds = spec.n_nodes, spec.rounds
    per_node_round = CPU[label] * ((0.9 if label == "8/0" else 0.7) if cut else 1.0)
    return {"key": spec_key(spec), "label": label, "common": [[REWARD[label]] * rounds for _ in range(n)],
            "cpu_s": per_node_round * n * rounds, "cpu": [[per_node_round] * rounds for _ in range(n)],
            "kept": [[4] * rounds for _ in range(n)], "kept_local": [[2] * rounds for _ in range(n)],
            "replayed": [[0] * rounds for _ in range(n)], "local_i": [[spec.local_i] * rounds for _ in range(n)],
            "age_windows": [[None] * rounds for _ in range(n)]}


def _log(blocks, seeds, cut: bool, skip_last: bool = False) -> dict[str, dict]:
    rows = [_row(spec, c.label, cut) for block in blocks for seed in seeds for build in block.builds
            for c, spec in zip(block.configs, block.specs(seed, build))]
    rows = rows[:-1] if skip_last else rows
    return {r["key"]: r for r in rows}


def test_block_2_runs_the_same_arms_on_the_first_tables_other_units() -> None:
    (one,), (two,) = cuts_blocks(), cuts_2_blocks()
    assert two.configs == one.configs and two.builds == one.builds == controls.BUILDS
    assert two.seeds == (5, 6, 7, 8, 9) and not set(two.seeds) & set(one.seeds)
    assert set(one.seeds) | set(two.seeds) == set(controls.SEEDS)  # together: the first table's 30 units
    assert (two.regime, two.n_nodes, two.rounds) == (one.regime, one.n_nodes, one.rounds)
    blocks, stem, runs_stem = choose(parse_args(["--controls-cuts2"]))
    assert blocks[0].name == two.name and stem == runs_stem == "controls-cuts2"  # its own run log
    assert choose(parse_args(["--controls-cuts2", "--seeds", "2"]))[0][0].seeds == (5, 6)


def test_block_3_adds_the_calibrated_cpu_matched_control_on_block_1s_units() -> None:
    (one,), (three,) = cuts_blocks(), cuts_3_blocks()
    assert [c.label for c in three.configs] == ["8/8 positive", "8/0", "13/0, CPU-matched", "8/8 replay positive"]
    assert three.seeds == one.seeds == (0, 1, 2, 3, 4) and three.builds == one.builds
    assert (three.regime, three.n_nodes, three.rounds) == (one.regime, one.n_nodes, one.rounds)
    assert controls.calibrate(0.04138, 0.09517, 0.07232) == cuts.CPU_MATCHED_I_3 == 13  # the pilot's figures
    assert "c8 = 0.04138" in cuts.CALIBRATION_3 and "= 13" in cuts.CALIBRATION_3
    blocks, stem, runs_stem = choose(parse_args(["--controls-cuts3"]))
    assert blocks[0].name == three.name and stem == runs_stem == "controls-cuts3"  # its own run log


def test_block_4_runs_s_with_claimed_signal_intake_and_its_calibrated_controls_on_block_1s_units() -> None:
    (three,), (four,) = cuts_3_blocks(), cuts.cuts_4_blocks()
    assert [c.label for c in four.configs] == ["8/8 positive, claimed-signal intake", "8/0", "12/0, CPU-matched",
                                               "8/8 replay positive"]
    assert controls.role(four.configs[0].label) == "S" and four.configs[0].rescore_claimed
    sharing = four.specs(0, 1)[0]
    assert sharing.rescore_claimed and '"rescore_claimed": true' in spec_key(sharing)  # a key of its own
    assert "rescore_claimed" not in spec_key(three.specs(0, 1)[0])  # runs logged before the field keep their keys
    assert four.seeds == three.seeds and four.builds == three.builds and four.rounds == three.rounds == 150
    assert controls.calibrate(0.05673, 0.10527, 0.07834) == cuts.CPU_MATCHED_I_4 == 12  # the pilot's figures
    assert "c8 = 0.05673" in cuts.CALIBRATION_4 and "= 12" in cuts.CALIBRATION_4
    blocks, stem, runs_stem = choose(parse_args(["--controls-cuts4"]))
    assert blocks[0].name == four.name and stem == runs_stem == "controls-cuts4"  # its own run log


def test_block_3_is_compared_with_block_1_arm_by_arm_and_b_has_no_twin() -> None:
    before = _log(cuts_blocks(), (0,), cut=False)
    after = _log(cuts_3_blocks((0,)), (0,), cut=True)
    figures = before_and_after(cuts_3_blocks((0,))[0], after, before, cuts_blocks()[0])
    assert set(figures) == {"8/8 positive", "8/0", "8/8 replay positive"}  # block 1 ran no (b)
    assert figures["8/8 positive"]["units"] == 3 and figures["8/8 positive"]["cpu_after_over_before"]["mean"] == pytest.approx(0.7)
    assert "block 1" in format_before_and_after(figures, "block 1 (`controls-cuts.runs.jsonl.gz`)")


def test_the_grid_is_s_and_its_two_strongest_controls_on_the_first_tables_units() -> None:
    (block,) = cuts_blocks()
    assert [c.label for c in block.configs] == ["8/8 positive", "8/0", "8/8 replay positive"]
    assert block.builds == (0, 1, 2) and block.seeds == (0, 1, 2, 3, 4) and block.rounds == 150
    first = controls.controls_blocks(require_calibration=False)[0]
    for config in block.configs:  # the same runs as the first table's arm, so units pair
        twin = next(c for c in first.configs if c.label == config.label)
        assert block.specs(0, 1)[block.configs.index(config)] == first.specs(0, 1)[first.configs.index(twin)]


def test_each_arm_is_compared_with_itself_in_the_first_table_on_complete_tiers(tmp_path) -> None:
    blocks = cuts_blocks((0, 1))
    first = _log(controls.controls_blocks(require_calibration=False)[:1], range(10), cut=False)
    after = _log(blocks, (0, 1), cut=True, skip_last=True)  # seed 1's tier is cut short: not analysed
    figures = before_and_after(blocks[0], after, first)
    assert figures["8/0"]["units"] == 3 and figures["8/8 positive"]["units"] == 3
    assert figures["8/0"]["cpu_after_over_before"]["mean"] == pytest.approx(0.9)
    assert figures["8/8 positive"]["cpu_after_over_before"]["mean"] == pytest.approx(0.7)
    assert figures["8/8 replay positive"]["reward_after_over_before"]["mean"] == pytest.approx(1.0)
    text = format_before_and_after(figures)
    assert "| 8/8 positive | 3 | 0.70x [0.70, 0.70] | 1.00x [1.00, 1.00] |" in text

    report = {**controls_report(blocks, after), "cpu_matched_i": None, "calibration": None}
    a = report["blocks"][0]["analysis"]
    assert a["best_control"] == "8/0"  # 0.04 / 0.135 beats the replay arm's 0.045 / 0.154
    (tmp_path / "README.md").write_text("x\n<!-- BEGIN controls-cuts table (w) -->\nold\n<!-- END controls-cuts table -->\n")
    out = write_controls(report, tmp_path, "controls-cuts", extra=text)
    readme = (tmp_path / "README.md").read_text()
    assert "old" not in readme and "| 8/8 positive | 3 |" in readme and "Control (b)" not in readme
    assert "controls-cuts.json" in out and (tmp_path / "controls-cuts.png").exists()


def test_a_report_only_keeps_the_provenance_of_the_invocation_that_ran(tmp_path) -> None:
    from benchmarks.sapo.cli import earlier_provenance

    now = ({"commit": "new", "command": "python -m benchmarks.sapo --controls-cuts4 --report-only"}, {"wall_s": 0.2})
    assert earlier_provenance(tmp_path / "none.json", *now) == now
    ran = tmp_path / "controls-cuts4.json"
    ran.write_text('{"provenance": {"commit": "c27cd06"}, "invocation": {"wall_s": 3363.2}, "markdown": ""}')
    assert earlier_provenance(ran, *now) == ({"commit": "c27cd06"}, {"wall_s": 3363.2})
    ran.write_text('{"markdown": ""}')  # a report without them: this invocation's
    assert earlier_provenance(ran, *now) == now


def test_block_5_runs_s_at_half_the_generation_with_a_frozen_reference_on_units_no_block_used() -> None:
    (five,) = cuts.cuts_5_blocks()
    assert [c.label for c in five.configs] == ["4/4 positive, claimed-signal intake", "4/0", "8/0",
                                               "5/0, CPU-matched", "4/4 replay positive", "4/0 frozen"]
    assert [controls.role(c.label) for c in five.configs] == ["S", "a", "a", "b", "c", "ref"]
    used = set(cuts_blocks()[0].seeds) | set(cuts_2_blocks()[0].seeds) | set(controls.SEEDS) | {controls.PILOT_SEED}
    assert five.seeds == (10, 11, 12, 13, 14) and not set(five.seeds) & used
    assert five.builds == controls.BUILDS and five.rounds == 150 and five.n_nodes == 8
    assert cuts.calibrate_from_4(0.04082, 0.05889, 0.04405) == cuts.CPU_MATCHED_I_5 == 5  # the pilot's figures
    assert "c4 = 0.04082" in cuts.CALIBRATION_5 and "= 5" in cuts.CALIBRATION_5
    frozen = five.specs(10, 0)[-1]
    assert not frozen.train and '"train": false' in spec_key(frozen)
    assert "train" not in spec_key(five.specs(10, 0)[2])  # 8/0 keeps the key it had in earlier blocks
    blocks, stem, runs_stem = choose(parse_args(["--controls-cuts5"]))
    assert blocks[0].name == five.name and stem == runs_stem == "controls-cuts5"  # its own run log


def test_a_frozen_reference_never_trains_but_is_scored_on_the_same_questions() -> None:
    from benchmarks.sapo.sim import SPARSE, RunSpec, node_config, run_swarm

    spec = RunSpec(regime=SPARSE, n_nodes=2, local_i=4, external_j=0, rounds=3, seed=0, completions=4, train=False)
    assert node_config(spec, 0).round.train is False
    result = run_swarm(spec)
    assert all(k == 0 for node in result.kept for k in node)  # nothing trained on, so no optimizer step counted
    assert len(result.common[0]) == 3 and result.phase_s["train"] == 0.0


def test_over_frozen_reports_what_learning_added_on_complete_tiers() -> None:
    blocks = cuts.cuts_5_blocks((10, 11))
    cpu_per, reward = {}, {}
    for config in blocks[0].configs:
        learns = controls.role(config.label) == "S"
        cpu_per[config.label], reward[config.label] = (0.02 if config.label == "4/0 frozen" else 0.04), (0.05 if learns else 0.04)
    rows = {}
    for seed in (10, 11):
        for build in blocks[0].builds:
            for config, spec in zip(blocks[0].configs, blocks[0].specs(seed, build)):
                if seed == 11 and config.label == "4/0 frozen" and build == 2:
                    continue  # seed 11's tier is cut short: not analysed
                common = [[reward[config.label]] * spec.rounds for _ in range(spec.n_nodes)]
                rows[spec_key(spec)] = {"key": spec_key(spec), "label": config.label, "common": common,
                                        "cpu_s": cpu_per[config.label] * spec.n_nodes * spec.rounds}
    figures = cuts.over_frozen(blocks[0], rows)
    assert figures["reference"] == "4/0 frozen" and figures["units"] == 3 and "4/0 frozen" not in figures["arms"]
    s, iso = figures["arms"]["4/4 positive, claimed-signal intake"], figures["arms"]["4/0"]
    assert s["reward_over_frozen"]["mean"] == pytest.approx(1.25) and iso["last_tenth_over_frozen"]["mean"] == pytest.approx(1.0)
    assert s["gain_per_extra_cpu_s"]["mean"] == pytest.approx(0.5) and iso["gain_per_extra_cpu_s"]["mean"] == pytest.approx(0.0)
    text = cuts.format_over_frozen(figures)
    assert '"4/0 frozen"' in text and "| 4/0 | 1.00x [1.00, 1.00] | 1.00x [1.00, 1.00] | 0.0000 [0.0000, 0.0000] |" in text
    assert cuts.over_frozen(cuts.cuts_4_blocks()[0], rows) == {}  # no reference in the block: nothing
